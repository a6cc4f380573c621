"""The live runs table: rows keyed by run id and updated in place on every refresh.

Only runs whose `updated_at` (or sparkline) changed are touched, so the cursor,
sort, filter, marks and scroll position survive a refresh. The column set (the
latest metrics and the config keys that differ between runs) is rebuilt only
when it changes. The table draws only the rows in view (`keyed_table.py`), so
10,000 runs load and move as fast as 100.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from operator import attrgetter
from typing import Any

from rfconsole.db.models import RunRead
from textual.binding import Binding
from textual.message import Message
from textual.widget import Widget

from .cells import SortableCell, format_number, sparkline, value_cell
from .data import SPARK_POINTS
from .filters import RunFilter, parse_filter
from .keyed_table import KeyedTable
from .run_columns import RUN_CELLS, TableSummary, differing_config_keys, fraction_text, metric_columns
from .table_parts import Column

MARK = "●"
STATUS_OF = attrgetter("status")
FIXED_COLUMNS = 2  # ID and name stay in view while the other columns scroll sideways
VERTICAL_SCROLLBAR = 2


class RunsTable(KeyedTable):
    """The runs, keyed by run id, that knows how to apply a refresh without losing view state.

    Columns scroll sideways a whole column at a time and the table ends at the last
    column that fits whole, so no cell is ever shown cut (a cut `0.9919` reads `9919`).
    """

    HELP_TITLE = "Runs table"
    BINDINGS = [
        Binding("enter", "select_cursor", "Open", show=False, tooltip="open the run's detail"),
        Binding("home", "first_row", "First run", show=False),
        Binding("end", "last_row", "Last run", show=False),
        Binding("left", "column_left", "Columns left", show=False,
                tooltip="scroll one column left (ID and name stay)"),
        Binding("right", "column_right", "Columns right", show=False,
                tooltip="scroll one column right (ID and name stay)"),
    ]

    class Summarized(Message):
        """What the status line says about the table changed (runs, marks, filter, columns)."""

        def __init__(self, summary: TableSummary) -> None:
            super().__init__()
            self.summary = summary

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(zebra_stripes=True, fixed_columns=FIXED_COLUMNS, **kwargs)
        self.first_column = 0  # the first scrolling column shown, counted after the fixed ones
        self.shown_columns = 0  # how many scrolling columns fit whole
        self.runs: dict[int, RunRead] = {}
        self.sparks: dict[int, list[float]] = {}
        self.marked: set[int] = set()
        self.run_filter: RunFilter = parse_filter("")
        self.sort_column: str | None = None
        self.sort_reverse = False
        self.main_metric: str | None = None
        self.spec: list[Column] = []
        self._metric_names: set[str] = set()
        self._config_keys: list[str] = []
        self._status_counts: Counter[str] = Counter()
        self._summary = TableSummary()

    # --- columns ------------------------------------------------------------

    def _column_keys(self) -> list[str]:
        """The columns the data calls for (cheap: widths are worked out only on rebuild)."""
        metric_keys = [f"m:{name}" for name in metric_columns(self._metric_names)]
        return (["id", "name", "status", "progress", "epoch", "chunk", *metric_keys,
                 "spark", "source", "parent"] + [f"c:{key}" for key in self._config_keys])

    def _column_spec(self) -> list[Column]:
        spark_label = f"{self.main_metric} trend" if self.main_metric else "trend"
        runs = self.runs.values()
        spec = [
            Column("id", "ID", 6),
            Column("name", "Name", self._width("name", [run.run_name for run in runs])),
            Column("status", "Status", 9),
            Column("progress", "Progress", 15),
            Column("epoch", "Epoch", self._width(
                "Epoch", [(run.current_epoch, run.num_epochs) for run in runs], fraction_text)),
            Column("chunk", "Chunk", self._width(
                "Chunk", [(run.current_chunk, run.num_chunks) for run in runs], fraction_text)),
        ]
        spec += [Column(f"m:{name}", name, self._width(
            name, [run.metrics.get(name) for run in runs], limit=12))
            for name in metric_columns(self._metric_names)]
        spec += [
            Column("spark", spark_label, max(SPARK_POINTS // 2, len(spark_label))),
            Column("source", "Source", self._width("Source", [run.source for run in runs])),
            Column("parent", "Parent", self._width("Parent", [run.parent_run_id for run in runs])),
        ]
        spec += [Column(f"c:{key}", key, self._width(
            key, [run.flattened_config.get(key) for run in runs]))
            for key in self._config_keys]
        return spec

    @staticmethod
    def _width(label: str, values: list[Any], text_of: Callable[[Any], str] = format_number,
               limit: int = 24) -> int:
        """Column widths fit the longest value (up to `limit`) and the label with its arrow."""
        distinct: Iterable[Any]
        try:
            distinct = set(values)  # most columns hold a few values many times
        except TypeError:  # lists in a config
            distinct = values
        longest = max(map(len, map(text_of, distinct)), default=0)
        return min(limit, max(len(label) + 2, longest, 4))  # + 2: room for the sort arrow

    def cell(self, run: RunRead, column_key: str) -> SortableCell:
        """The run's cell in a column."""
        if column_key.startswith("m:"):
            return value_cell(run.metrics.get(column_key[2:]))
        if column_key.startswith("c:"):
            return value_cell(run.flattened_config.get(column_key[2:]))
        if column_key == "id":
            marked = run.run_id in self.marked
            return SortableCell(f"{MARK if marked else ' '}{run.run_id:>4}", run.run_id,
                                "bold yellow" if marked else "")
        if column_key == "spark":
            spark = self.sparks.get(run.run_id, [])
            return SortableCell(sparkline(spark[-SPARK_POINTS // 2:]), spark[-1] if spark else None, "cyan")
        return RUN_CELLS[column_key](run)

    def cells(self, run: RunRead) -> list[SortableCell]:
        return [self.cell(run, column.key) for column in self.spec]

    def make_cells(self, key: int) -> list[SortableCell]:
        return self.cells(self.runs[key])

    def sort_key(self, key: int, column_key: str) -> tuple[int, Any]:
        return self.cell(self.runs[key], column_key).sort_tuple

    # --- applying refreshes -------------------------------------------------

    def load(self, runs: list[RunRead], sparks: dict[int, list[float]],
             main_metric: str | None) -> None:
        """Replace everything (first load, or another experiment)."""
        self.runs = {run.run_id: run for run in runs}
        self.sparks = dict(sparks)
        self.marked &= set(self.runs)
        self.main_metric = main_metric
        self._metric_names = {name for run in runs for name in run.metrics}
        self._config_keys = differing_config_keys(self.runs.values())
        self._status_counts = Counter(map(STATUS_OF, runs))
        self.rebuild()

    def update_runs(self, runs: list[RunRead], sparks: dict[int, list[float]],
                    main_metric: str | None) -> int:
        """Apply the runs that changed; returns how many rows really changed."""
        changed: list[RunRead] = []
        added = False
        counts = self._status_counts
        for run in runs:
            old = self.runs.get(run.run_id)
            spark = sparks.get(run.run_id)
            if (old is not None and old.updated_at == run.updated_at
                    and (spark is None or spark == self.sparks.get(run.run_id))):
                continue
            added = added or old is None
            if old is not None:
                counts[old.status] -= 1
            counts[run.status] += 1
            self.runs[run.run_id] = run
            if spark is not None:
                self.sparks[run.run_id] = spark
            changed.append(run)
        # Sparklines read for runs that did not change otherwise (after the first load).
        for run_id, spark in sparks.items():
            known = self.runs.get(run_id)
            if known is not None and spark != self.sparks.get(run_id):
                self.sparks[run_id] = spark
                changed.append(known)
        if not changed:
            return 0
        self._metric_names.update(name for run in changed for name in run.metrics)
        if added:
            self._config_keys = differing_config_keys(self.runs.values())
        if main_metric != self.main_metric or self._column_keys() != [c.key for c in self.spec]:
            self.main_metric = main_metric
            self.rebuild()
            return len(changed)
        order_may_change = False
        for run in changed:
            order_may_change |= self._update_row(run)
        if self.sort_column is not None and order_may_change:
            self._sort_keeping_cursor()
        self._summarize()
        return len(changed)

    def _update_row(self, run: RunRead) -> bool:
        """Add, update or remove the run's row; True if the sort order may have changed."""
        run_id = run.run_id
        shown = run_id in self
        if not self.run_filter(run):
            if shown:
                self.remove_row(run_id)
            return False
        if not shown:
            self.add_row(run_id)
            return True
        return self.refresh_row(run_id)

    def rebuild(self) -> None:
        """Refill the table, keeping the cursor's run and the scroll position."""
        cursor_key = self.cursor_run_id()
        scroll_y = self.scroll_y
        spec = self.spec = self._column_spec()
        self.set_columns(spec, [self._header(column) for column in spec])
        run_filter = self.run_filter
        self.set_rows(run_id for run_id in sorted(self.runs) if run_filter(self.runs[run_id]))
        if self.sort_column is not None and self.sort_column in {c.key for c in self.spec}:
            self._sort_rows()
        self._move_to(cursor_key)
        self.scroll_to(y=scroll_y, animate=False, immediate=True)
        self._summarize()
        self.fit_columns(self._room())

    # --- view state ---------------------------------------------------------

    def cursor_run_id(self) -> int | None:
        return self.cursor_key

    def _move_to(self, run_id: int | None) -> None:
        if run_id is None or run_id not in self:
            return
        index = self.get_row_index(run_id)
        if index != self.cursor_row:
            self.move_cursor(row=index, scroll=False)

    def _sort_keeping_cursor(self) -> None:
        cursor_key = self.cursor_run_id()
        self._sort_rows()
        self._move_to(cursor_key)

    def _sort_rows(self) -> None:
        if self.sort_column is not None:
            self.sort(self.sort_column, reverse=self.sort_reverse)

    def sort_by(self, column_key: str, reverse: bool | None = None) -> None:
        """Sort by a column; choosing the current sort column again reverses the order."""
        if reverse is None:
            reverse = not self.sort_reverse if column_key == self.sort_column else False
        previous = self.sort_column
        self.sort_column, self.sort_reverse = column_key, reverse
        self._relabel(previous, column_key)
        self._sort_keeping_cursor()

    def set_filter(self, run_filter: RunFilter) -> None:
        self.run_filter = run_filter
        self.rebuild()

    def toggle_mark(self, run_id: int) -> None:
        if run_id in self.marked:
            self.marked.discard(run_id)
        else:
            self.marked.add(run_id)
        self._refresh_id_cell(run_id)
        self._summarize()

    def mark_all_shown(self) -> None:
        shown = set(self.row_keys)
        newly = shown - self.marked
        self.marked |= shown
        for run_id in newly:
            self._refresh_id_cell(run_id)
        self._summarize()

    def clear_marks(self) -> None:
        marked, self.marked = self.marked, set()
        for run_id in marked:
            self._refresh_id_cell(run_id)
        self._summarize()

    def _refresh_id_cell(self, run_id: int) -> None:
        if run_id in self:  # else made with its mark when shown again
            self.refresh_row(run_id)

    def selected_run_ids(self) -> list[int]:
        """The marked runs if any, else the run under the cursor."""
        if self.marked:
            return sorted(self.marked)
        run_id = self.cursor_run_id()
        return [run_id] if run_id is not None else []

    # --- headers and sideways scrolling ---------------------------------------

    def _header(self, column: Column) -> str:
        """The column's label, with ▲ or ▼ when the rows are sorted by it."""
        if column.key != self.sort_column:
            return column.label
        return f"{column.label} {'▼' if self.sort_reverse else '▲'}"

    def _relabel(self, *keys: str | None) -> None:
        for column in self.spec:
            if column.key in keys:
                self.set_header(column.key, self._header(column))

    def fit_columns(self, room: int) -> None:
        """Show whole columns only, from `first_column` on, in `room` cells of width."""
        if room <= 0:
            self._summarize()
            return  # not laid out yet
        widths = [column.render_width for column in self.columns[FIXED_COLUMNS:]]
        fixed = sum(column.render_width for column in self.columns[:FIXED_COLUMNS])
        if not widths:
            self.first_column = self.shown_columns = 0
            self._summarize()
            return
        self.first_column = max(0, min(self.first_column, len(widths) - 1))
        scrollbar = VERTICAL_SCROLLBAR if self.show_vertical_scrollbar else 0
        space = room - fixed - scrollbar
        used = shown = 0
        for column_width in widths[self.first_column:]:
            if shown and used + column_width > space:
                break
            used += column_width
            shown += 1
        self.shown_columns = shown
        width: int | str
        if self.first_column == 0 and shown == len(widths):
            width = "100%"  # everything fits
        else:
            width = fixed + used + scrollbar
        if str(self.styles.width) != str(width):  # a new width means a new layout: only then
            self.styles.width = width
        offset = sum(widths[:self.first_column])
        if self.scroll_x != offset:
            self.call_after_refresh(self.scroll_to, x=offset, animate=False)
        self._summarize()

    # --- the status line's figures ----------------------------------------------

    def _summarize(self) -> None:
        """Tell the screen, when it changed, what the status line says about the table."""
        counts = tuple(sorted((status, count) for status, count in self._status_counts.items() if count))
        summary = TableSummary(counts, len(self.runs), self.row_count, len(self.marked),
                               self.run_filter.text, self.column_window())
        if summary != self._summary:
            self._summary = summary
            self.post_message(self.Summarized(summary))

    def column_window(self) -> str:
        """Which scrolling columns are in view, e.g. "columns 3-6 of 12 (← →)", or ""."""
        total = len(self.columns) - FIXED_COLUMNS
        if total <= 0 or (self.first_column == 0 and self.shown_columns >= total):
            return ""
        first = self.first_column + FIXED_COLUMNS + 1
        last = first + self.shown_columns - 1
        return f"columns {first}–{last} of {total + FIXED_COLUMNS} (← →)"

    def _room(self) -> int:
        parent = self.parent
        return parent.size.width if isinstance(parent, Widget) else self.size.width

    def action_column_right(self) -> None:
        total = len(self.columns) - FIXED_COLUMNS
        if self.first_column + self.shown_columns < total:
            self.first_column += 1
            self.fit_columns(self._room())


    def action_column_left(self) -> None:
        if self.first_column > 0:
            self.first_column -= 1
            self.fit_columns(self._room())

