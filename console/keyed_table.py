"""A table that draws only the rows in view: rows keyed by an int id, cells kept as plain values.

Textual's DataTable measures and stores every cell it is given and sorts through a Python
call per row, so 10,000 runs took seconds to load and a key press waited on its repaint.
This widget is built on the public line API (a ScrollView whose `render_line` draws one
line): loading is storing lists, a sort is one `list.sort`, and a paint renders the
thirty-odd rows on screen, each cached until its cells, the cursor or the stripes change.

It looks like DataTable (the same component classes' colours, zebra stripes, fixed
columns on the left) and speaks in the same terms (`cursor_row`, `row_count`,
`move_cursor`, `get_cell`), but its cells are `Cell`s: text, a style and a sort key.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from .table_parts import Cell, Column, cell_segments, split_line

RENDERED_LINES_KEPT = 512  # rendered lines cached: a few screens' worth
INDEX_AFTER_LOOKUPS = 32  # after a reorder, rows looked up by scanning before a map is built


class KeyedTable(ScrollView, can_focus=True, inherit_bindings=False):
    """Rows keyed by int, drawn a line at a time; the header stays at the top."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select_cursor", "Select", show=False),
        Binding("up", "cursor_up", "Cursor up", show=False),
        Binding("down", "cursor_down", "Cursor down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("home", "first_row", "First row", show=False),
        Binding("end", "last_row", "Last row", show=False),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "keyed-table--cursor",
        "keyed-table--fixed",
        "keyed-table--fixed-cursor",
        "keyed-table--header",
        "keyed-table--even-row",
        "keyed-table--odd-row",
    }

    # DataTable's look, under this widget's own component classes.
    DEFAULT_CSS = """
    KeyedTable {
        background: $surface;
        color: $foreground;
        height: auto;
        max-height: 100%;
        &:focus {
            background-tint: $foreground 5%;
            & > .keyed-table--cursor {
                background: $block-cursor-background;
                color: $block-cursor-foreground;
                text-style: $block-cursor-text-style;
            }
            & > .keyed-table--header {
                background-tint: $foreground 5%;
            }
            & > .keyed-table--fixed-cursor {
                color: $block-cursor-foreground;
                background: $block-cursor-background;
            }
        }
        &:dark > .keyed-table--even-row {
            background: $surface-darken-1 40%;
        }
        & > .keyed-table--header {
            text-style: bold;
            background: $panel;
            color: $foreground;
        }
        &:ansi > .keyed-table--header {
            background: ansi_bright_blue;
            color: ansi_default;
        }
        & > .keyed-table--fixed {
            background: $secondary-muted;
            color: $foreground;
        }
        & > .keyed-table--even-row {
            background: $surface-lighten-1 50%;
        }
        & > .keyed-table--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
        & > .keyed-table--fixed-cursor {
            background: $block-cursor-blurred-background;
            color: $foreground;
        }
    }
    """

    class RowSelected(Message):
        """Enter on a row, or a click on the cursor's row."""

        def __init__(self, table: KeyedTable, row_key: int) -> None:
            super().__init__()
            self.table = table
            self.row_key = row_key

        @property
        def control(self) -> KeyedTable:
            return self.table

    class HeaderSelected(Message):
        """A click on a column's header."""

        def __init__(self, table: KeyedTable, column_key: str) -> None:
            super().__init__()
            self.table = table
            self.column_key = column_key

        @property
        def control(self) -> KeyedTable:
            return self.table

    def __init__(self, *, fixed_columns: int = 0, zebra_stripes: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.fixed_columns = fixed_columns
        self.zebra_stripes = zebra_stripes
        self.columns: list[Column] = []
        self._column_index: dict[str, int] = {}
        self._headers: list[str] = []
        self._cells: dict[int, Sequence[Cell] | None] = {}  # None: not made yet
        self._order: list[int] = []
        self._index: dict[int, int] | None = {}  # key -> row; None: to be rebuilt
        self._lookups = 0  # rows looked up since the order last changed
        self._versions: dict[int, int] = {}
        self._sort_column: int | None = None
        self._sort_keys: dict[int, tuple[int, Any]] = {}
        self._rendered: LRUCache[tuple[Any, ...], Strip] = LRUCache(RENDERED_LINES_KEPT)
        self._styles: dict[str, Style] = {}  # a cell's style text, parsed
        self._components: dict[str, Style] = {}
        self.cursor_row = 0

    # --- what subclasses provide ----------------------------------------------------

    def make_cells(self, key: int) -> Sequence[Cell]:
        """The cells of row `key`, one per column; asked only when the row is drawn or read."""
        raise NotImplementedError

    def sort_key(self, key: int, column_key: str) -> tuple[int, Any]:
        """Row `key`'s sort key in a column (by default its cell's; override to spare the row)."""
        return self.row_cells(key)[self._column_index[column_key]].sort_tuple

    # --- content ------------------------------------------------------------------

    @property
    def row_count(self) -> int:
        return len(self._order)

    @property
    def row_keys(self) -> list[int]:
        """The keys in the order shown (do not change the list)."""
        return self._order

    def __contains__(self, key: object) -> bool:
        return key in self._cells

    def set_columns(self, columns: list[Column], headers: list[str]) -> None:
        self.columns = list(columns)
        self._column_index = {column.key: index for index, column in enumerate(columns)}
        self._headers = list(headers)
        self._cells = dict.fromkeys(self._cells)
        self._sort_column, self._sort_keys = None, {}
        self._rendered.clear()
        self._changed(layout=True)

    def set_header(self, column_key: str, header: str) -> None:
        index = self._column_index.get(column_key)
        if index is not None and self._headers[index] != header:
            self._headers[index] = header
            self.refresh_line(self.scroll_offset.y)  # the header is the first line in view

    def set_rows(self, keys: Iterable[int]) -> None:
        """Show these rows, in this order (their cells are made when first drawn)."""
        self._cells = dict.fromkeys(keys)
        self._order = list(self._cells)
        self._versions.clear()
        self._sort_column, self._sort_keys = None, {}
        self._forget_index()
        self._rendered.clear()
        self._changed(layout=True)

    def add_row(self, key: int) -> None:
        """Show row `key` at the end (the next sort puts it in its place)."""
        if key in self._cells:
            self.refresh_row(key)
            return
        self._cells[key] = None
        self._versions[key] = self._versions.get(key, 0) + 1  # not a line drawn before it left
        self._order.append(key)
        if self._index is not None:
            self._index[key] = len(self._order) - 1
        self._changed(layout=True)

    def refresh_row(self, key: int) -> bool:
        """Row `key`'s data changed: make its cells again and redraw it.

        Returns True if its place in the current sort order may have changed."""
        self._cells[key] = None
        self._versions[key] = self._versions.get(key, 0) + 1
        row = self.get_row_index(key)
        if self.is_mounted and 0 <= row - round(self.scroll_y) < self.size.height:
            self.refresh_line(row + 1)
        if self._sort_column is None:
            return False
        old = self._sort_keys.pop(key, None)
        return old != self._sort_key_of(key)

    def remove_row(self, key: int) -> None:
        if key not in self._cells:
            return
        del self._cells[key]
        self._order.remove(key)
        self._sort_keys.pop(key, None)
        self._forget_index()
        self._changed(layout=True)

    def get_cell(self, key: int, column_key: str) -> Cell:
        return self.row_cells(key)[self._column_index[column_key]]

    def row_cells(self, key: int) -> Sequence[Cell]:
        cells = self._cells[key]
        if cells is None:
            cells = self._cells[key] = self.make_cells(key)
        return cells

    def get_row_index(self, key: int) -> int:
        """The row showing `key` (KeyError if none does)."""
        if self._index is None:
            # After a sort, a refresh looks up a few rows: a scan each is cheaper than a map.
            self._lookups += 1
            if self._lookups <= INDEX_AFTER_LOOKUPS:
                try:
                    return self._order.index(key)
                except ValueError:
                    raise KeyError(key) from None
            self._index = {row_key: index for index, row_key in enumerate(self._order)}
        return self._index[key]

    def sort(self, column_key: str, *, reverse: bool = False) -> None:
        """Order the rows by a column's sort keys (stable: equal rows keep their order)."""
        index = self._column_index[column_key]
        if index != self._sort_column:
            self._sort_column, self._sort_keys = index, {}
        keys = self._sort_keys
        for key in [key for key in self._order if key not in keys]:
            self._sort_key_of(key)
        self._order.sort(key=keys.__getitem__, reverse=reverse)  # no Python call per row
        self._forget_index()
        self._changed()

    def _forget_index(self) -> None:
        self._index, self._lookups = None, 0

    def _sort_key_of(self, key: int) -> tuple[int, Any]:
        found = self._sort_keys.get(key)
        if found is None and self._sort_column is not None:
            found = self._sort_keys[key] = self.sort_key(key, self.columns[self._sort_column].key)
        return found if found is not None else (2, 0)

    def _changed(self, layout: bool = False) -> None:
        """Rows moved or came and went: new size, the cursor within the rows, a repaint.

        Drawn lines stay cached: they are keyed by row, its version, the cursor and the
        stripe, not by position."""
        width = sum(column.render_width for column in self.columns)
        size = Size(width, len(self._order) + 1)
        if layout and size != self.virtual_size:
            self.virtual_size = size
            self.refresh(layout=True)
        self.cursor_row = max(0, min(self.cursor_row, len(self._order) - 1))
        self.refresh()

    # --- the cursor ---------------------------------------------------------------------

    @property
    def cursor_key(self) -> int | None:
        if 0 <= self.cursor_row < len(self._order):
            return self._order[self.cursor_row]
        return None

    def move_cursor(self, *, row: int, scroll: bool = True, animate: bool = False) -> None:
        """Put the cursor on `row` (clamped to the rows there are), in view if `scroll`."""
        row = max(0, min(row, len(self._order) - 1))
        old, self.cursor_row = self.cursor_row, row
        if old != row:
            self.refresh_line(old + 1)
            self.refresh_line(row + 1)
        if scroll:
            self.scroll_to_row(row)

    def scroll_to_row(self, row: int) -> None:
        view = max(1, self.size.height - 1)  # less the header
        top = round(self.scroll_y)
        if row < top:
            self.scroll_to(y=row, animate=False, immediate=True)
        elif row >= top + view:
            self.scroll_to(y=row - view + 1, animate=False, immediate=True)

    def _page(self) -> int:
        return max(1, self.size.height - 2)

    def action_cursor_up(self) -> None:
        self.move_cursor(row=self.cursor_row - 1)

    def action_cursor_down(self) -> None:
        self.move_cursor(row=self.cursor_row + 1)

    def action_page_up(self) -> None:
        self.move_cursor(row=self.cursor_row - self._page())

    def action_page_down(self) -> None:
        self.move_cursor(row=self.cursor_row + self._page())

    def action_first_row(self) -> None:
        self.move_cursor(row=0)

    def action_last_row(self) -> None:
        self.move_cursor(row=len(self._order) - 1)

    def action_select_cursor(self) -> None:
        key = self.cursor_key
        if key is not None:
            self.post_message(self.RowSelected(self, key))

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        if offset.y == 0:
            column = self._column_at(offset.x)
            if column is not None:
                self.post_message(self.HeaderSelected(self, column.key))
            return
        row = offset.y - 1 + round(self.scroll_y)
        if 0 <= row < len(self._order):  # as in DataTable: a click on the cursor's row selects it
            if row == self.cursor_row:
                self.action_select_cursor()
            self.move_cursor(row=row)

    def _column_at(self, x: int) -> Column | None:
        fixed = self.columns[:self.fixed_columns]
        edge = 0
        for column in fixed:
            edge += column.render_width
            if x < edge:
                return column
        x += round(self.scroll_x) - edge
        edge = 0
        for column in self.columns[self.fixed_columns:]:
            edge += column.render_width
            if x < edge:
                return column
        return None

    # --- drawing ------------------------------------------------------------------------

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._forget_looks()

    def on_focus(self) -> None:
        self._forget_looks()

    def on_blur(self) -> None:
        self._forget_looks()

    def _forget_looks(self) -> None:
        """Styles changed (a theme, the focus): every line is drawn again."""
        self._rendered.clear()
        self._components.clear()
        self.refresh()

    def _component(self, name: str) -> Style:
        """A component class's style ("" for the widget's own), worked out once per style change."""
        style = self._components.get(name)
        if style is None:
            style = self._components[name] = (
                self.get_component_styles(name).rich_style if name else self.rich_style)
        return style

    def _style(self, text: str) -> Style:
        style = self._styles.get(text)
        if style is None:
            style = self._styles[text] = Style.parse(text) if text else Style()
        return style

    def render_line(self, y: int) -> Strip:
        width = self.size.width  # the content area, without the scrollbar
        scroll_x = round(self.scroll_x)
        if y == 0:
            key: tuple[Any, ...] = ("header", tuple(self._headers), tuple(self.columns), scroll_x, width)
        else:
            row = y - 1 + round(self.scroll_y)
            if row >= len(self._order):
                return Strip.blank(width, self._component(""))
            row_key = self._order[row]
            key = (row_key, self._versions.get(row_key, 0), row == self.cursor_row, row % 2, scroll_x, width)
        line = self._rendered.get(key)
        if line is None:
            if y == 0:
                fixed, scrolling, fill = self._render_header()
            else:
                fixed, scrolling, fill = self._render_row(row)
            room = max(0, width - fixed.cell_length)
            line = Strip.join([fixed, scrolling.crop(scroll_x, scroll_x + room)])
            line = self._rendered[key] = line.adjust_cell_length(width, fill).simplify()
        return line

    def _row_style(self, row: int) -> Style:
        if self.zebra_stripes:
            return self._component("keyed-table--odd-row" if row % 2 else "keyed-table--even-row")
        return self._component("")

    def _render_header(self) -> tuple[Strip, Strip, Style]:
        style = self._component("keyed-table--header")
        segments = [cell_segments(header, style, Style(), None, column.width)
                    for header, column in zip(self._headers, self.columns, strict=True)]
        return (*split_line(segments, self.fixed_columns), style)

    def _render_row(self, row: int) -> tuple[Strip, Strip, Style]:
        """The row's fixed and scrolling cells, and the style of the space after them."""
        row_key = self._order[row]
        row_style = self._row_style(row)
        fixed_style = self._component("keyed-table--fixed")
        cursor_style = fixed_cursor_style = Style()
        over = None
        if row == self.cursor_row:
            cursor_style = self._component("keyed-table--cursor")
            fixed_cursor_style = cursor_style + self._component("keyed-table--fixed-cursor")
            over = Style.from_color(color=cursor_style.color)  # the cursor's colour wins, as in DataTable
        segments = []
        for index, (cell, column) in enumerate(zip(self.row_cells(row_key), self.columns, strict=False)):
            pre = fixed_style + fixed_cursor_style if index < self.fixed_columns else row_style + cursor_style
            segments.append(cell_segments(cell.text, pre, self._style(cell.style), over, column.width))
        return (*split_line(segments, self.fixed_columns), row_style + cursor_style)
