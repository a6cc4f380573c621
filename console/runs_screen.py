"""The main screen: the experiment's live runs table, the filter, and the IC ops pane."""

from __future__ import annotations

import shlex
from datetime import datetime
from typing import Any

from rfconsole.db.models import ExperimentRead
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.reactive import var
from textual.widgets import DataTable, Footer, Header, Input, Label, Static

from .cells import literal
from .data import RunsSnapshot, read_runs_snapshot
from .filters import FilterError, parse_filter, unknown_keys
from .ops import OP_ACTIONS, READONLY_OPS, op_key_allowed
from .ops_table import OpsTable
from .polling import PollingScreen
from .run_columns import TableSummary
from .runs_table import RunsTable
from .status_line import RunsStatus

EMPTY_STATE = (
    "[b]No experiments yet.[/b]\n\n"
    "Start the demo experiment with [b reverse] rfconsole demo [/], or run a training script "
    "that uses rfconsole's controller on this database.\n"
    "This screen switches to it as soon as it starts."
)

def controller_liveness(experiment: ExperimentRead) -> str:
    """For the header: whether a controller is applying ops and training now."""
    if experiment.controller_alive:
        return "controller alive"
    if experiment.controller_seen_at is None:
        return "no controller"
    return f"no controller since {experiment.controller_seen_at:%H:%M:%S} UTC"


def start_hint(experiment: ExperimentRead, database: str) -> str:
    """How to start a controller for `experiment`: the demo's command, or the user's own."""
    title = (experiment.config_schema or {}).get("title")
    if title is not None:
        from rfconsole.controller.demo import CONFIG_SCHEMA  # numpy: only when it can be the demo

    if title is not None and title == CONFIG_SCHEMA["title"]:
        return (f"start one with: rfconsole demo --db {shlex.quote(database)} "
                f"--experiment {shlex.quote(experiment.name)}")
    return "start your training script's controller on this database"


def ops_title(experiment: ExperimentRead, database: str) -> str:
    title = "IC ops (newest first)"
    if experiment.controller_alive or experiment.status not in ("running", "cancelled"):
        return title
    return f"{title} · [b yellow]no controller is running[/]: {literal(start_hint(experiment, database))}"


class ExperimentShown(Message):
    """The runs screen shows this experiment now (the app keeps it as the current one)."""

    def __init__(self, experiment: ExperimentRead) -> None:
        super().__init__()
        self.experiment = experiment


class OpsApplied(Message):
    """Ops were requested for these runs (queued or refused)."""

    def __init__(self, run_ids: list[int]) -> None:
        super().__init__()
        self.run_ids = run_ids


class RunsScreen(PollingScreen):
    """Runs of the current experiment, refreshed in place; ops on the cursor or marked runs."""

    HELP_TITLE = "Runs screen"
    BINDINGS = [
        # First, so that the footer keeps them in view on a narrow terminal.
        Binding("q", "app.quit", "Quit", tooltip="quit (the demo's experiment is cancelled, "
                "resumable)"),
        Binding("question_mark", "app.help", "Help", tooltip="the keys of this screen"),
        Binding("s", "stop", "Stop", tooltip="stop the marked runs, or the run under the cursor"),
        Binding("r", "resume", "Resume", tooltip="resume the marked runs, or the one under the cursor"),
        Binding("d", "delete", "Delete", tooltip="delete the marked runs, or the one under the "
                "cursor (asks first)"),
        Binding("c", "clone", "Clone", tooltip="clone-modify: edit the config, warm start or not "
                "(marked runs: the same change to each)"),
        READONLY_OPS,
        Binding("space", "mark", "Mark", show=False,
                tooltip="mark or unmark the run under the cursor, then move down one run"),
        Binding("a", "mark_all", "Mark all shown", show=False, tooltip="mark every run shown"),
        Binding("slash", "filter", "Filter", tooltip="filter the runs (see below)"),
        Binding("escape", "clear", "Clear filter/marks", show=False,
                tooltip="close the filter, else clear the marks, else clear the filter"),
        Binding("o", "sort", "Sort", tooltip="sort by a column (the same column again reverses)"),
        Binding("l", "logs", "Logs", tooltip="the experiment log"),
        Binding("e", "experiments", "Experiments", tooltip="switch experiment"),
        Binding("p", "app.pause", "Pause", show=False, tooltip="pause or resume the live refresh"),
        Binding("plus,equals_sign", "app.slower", "Refresh slower", show=False,
                tooltip="refresh half as often"),
        Binding("minus", "app.faster", "Refresh faster", show=False, tooltip="refresh twice as often"),
        Binding("tab", "focus_next_pane", "Ops pane", show=False,
                tooltip="move between the runs table and the ops pane (enter: the op's run)"),
    ]

    # What the status line shows (bound to it): set on every read, the table's figures as
    # the table reports them. `experiment` is set again on every read even when equal,
    # because whether its controller is alive depends on the time too.
    experiment: var[ExperimentRead | None] = var(None, always_update=True)
    load_error: var[str | None] = var(None)
    table_summary: var[TableSummary] = var(TableSummary())

    def __init__(self) -> None:
        super().__init__()
        self.known_revision: int | None = None
        self.since: datetime | None = None
        self.main_metric: str | None = None
        self.sparks_wanted = False  # the first read left the sparklines for the next one

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        yield RunsStatus(readonly=self.console_app.readonly, id="status-line").data_bind(
            RunsScreen.experiment, RunsScreen.load_error, summary=RunsScreen.table_summary)
        yield Input(placeholder="filter: STOPPED, status:NEW, text, or key op value "
                    "(learning_rate > 0.01 and val_loss < 1); enter applies, escape clears",
                    id="filter")
        yield Static(id="filter-error")
        yield RunsTable(id="runs")
        yield Static(EMPTY_STATE, id="empty")
        with Vertical(id="ops-pane"):
            yield Label("IC ops (newest first)", id="ops-title")
            yield OpsTable(id="ops")
        yield Footer()

    @property
    def table(self) -> RunsTable:
        return self.query_one("#runs", RunsTable)

    def on_mount(self) -> None:
        self.query_one("#filter").display = False
        self.query_one("#filter-error").display = False
        self.query_one("#empty").display = False
        self.set_focus(self.table)
        self.watch(self.app, "chosen_experiment_id", self._experiment_chosen, init=False)

    def watch_experiment(self, experiment: ExperimentRead | None) -> None:
        liveness = controller_liveness(experiment) if experiment else ""
        self.sub_title = " · ".join(part for part in (liveness, self.console_app.dispatcher_status) if part)

    def on_resize(self) -> None:
        self._fit_columns()

    def _fit_columns(self) -> None:
        self.table.fit_columns(self.size.width)

    @on(RunsTable.Summarized)
    def _table_summarized(self, message: RunsTable.Summarized) -> None:
        self.table_summary = message.summary

    # --- refresh --------------------------------------------------------------

    def prepare_read(self) -> dict[str, Any]:
        app = self.console_app
        return {
            "experiment_id": app.chosen_experiment_id,
            "experiment_name": app.experiment_name,
            "shown_experiment_id": self.experiment.id if self.experiment else None,
            "known_revision": self.known_revision,
            "since": self.since,
            "main_metric": self.main_metric,
            # Passed without a copy: reads never overlap show_data, the only place that
            # changes it.
            "known_runs": self.table.runs,
            "all_sparks": self.sparks_wanted,
        }

    def read_data(self, prepared: dict[str, Any]) -> RunsSnapshot:
        return read_runs_snapshot(self.console_app.store, **prepared)

    def show_data(self, snapshot: RunsSnapshot) -> None:
        self.load_error = None
        experiment = snapshot.experiment
        self.query_one("#empty").display = experiment is None
        self.table.display = experiment is not None
        self.query_one("#ops-pane").display = experiment is not None
        if experiment is None:
            if self.experiment is not None:
                self.refresh_bindings()
            self.experiment = None
            return
        if self.experiment is None:
            self.refresh_bindings()
        table = self.table
        if snapshot.full:
            table.load(snapshot.changed_runs, snapshot.sparks, snapshot.main_metric)
        elif snapshot.runs_read:
            table.update_runs(snapshot.changed_runs, snapshot.sparks, snapshot.main_metric)
        if snapshot.runs_read:
            self.known_revision = experiment.revision
            latest = max((run.updated_at for run in snapshot.changed_runs), default=None)
            if latest is not None and (self.since is None or latest > self.since):
                self.since = latest
        if snapshot.full and not snapshot.changed_runs:
            self.since = None  # nothing seen yet: keep reading everything
        if snapshot.all_sparks:
            self.sparks_wanted = False
        if snapshot.sparks_pending:
            self.sparks_wanted = True
            # Once the table is on screen: a read running meanwhile would slow its first paint.
            self.call_after_refresh(self.poll_now)
        self.main_metric = snapshot.main_metric
        self.experiment = experiment
        self.post_message(ExperimentShown(experiment))
        self.query_one("#ops", OpsTable).show_ops(snapshot.ops, experiment.controller_alive)
        self.query_one("#ops-title", Label).update(ops_title(experiment, self.console_app.database))
        if snapshot.runs_read:  # a vertical scrollbar may have come or gone
            self.call_after_refresh(self._fit_columns)

    def show_failure(self, message: str) -> None:
        self.load_error = message

    def _experiment_chosen(self) -> None:
        self.forget_experiment()

    def forget_experiment(self) -> None:
        """Start over (another experiment was chosen): the next read loads everything."""
        self.experiment = None
        self.known_revision = None
        self.since = None
        self.main_metric = None
        self.table.marked.clear()
        self.poll_now()

    # --- keys ---------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if not op_key_allowed(action, self.console_app.readonly):
            return False
        if self.experiment is None and action in (*OP_ACTIONS, "logs", "sort", "filter"):
            return False  # nothing to act on yet: keep the footer to what works
        return True

    def runs_for_op(self) -> list[Any]:
        """The marked runs, else the run under the cursor."""
        return [self.table.runs[i] for i in self.table.selected_run_ids() if i in self.table.runs]

    def action_read_only(self) -> None:
        self.console_app.refuse_op()

    def action_stop(self) -> None:
        self.console_app.queue_op("STOP", self.runs_for_op())

    def action_resume(self) -> None:
        self.console_app.queue_op("RESUME", self.runs_for_op())

    def action_delete(self) -> None:
        self.console_app.queue_op("DELETE", self.runs_for_op())

    def action_clone(self) -> None:
        targets = self.runs_for_op()
        cursor = self.table.runs.get(self.table.cursor_run_id() or -1)
        parent = cursor if cursor in targets else (targets[0] if targets else None)
        self.console_app.open_clone(parent, targets)

    def action_mark(self) -> None:
        run_id = self.table.cursor_run_id()
        if run_id is not None:
            self.table.toggle_mark(run_id)
            if self.table.cursor_row < self.table.row_count - 1:
                self.table.move_cursor(row=self.table.cursor_row + 1)

    def action_mark_all(self) -> None:
        self.table.mark_all_shown()

    def action_filter(self) -> None:
        field = self.query_one("#filter", Input)
        field.display = True
        field.value = self.table.run_filter.text
        self.set_focus(field)  # at once: the next key of a burst must reach the field

    def action_clear(self) -> None:
        field = self.query_one("#filter", Input)
        if field.display:
            field.display = False
            self.query_one("#filter-error").display = False
            self.set_focus(self.table)
        elif self.table.marked:
            self.table.clear_marks()
        elif self.table.run_filter.text:
            self.table.set_filter(parse_filter(""))

    @on(Input.Submitted, "#filter")
    def _apply_filter(self, event: Input.Submitted) -> None:
        error = self.query_one("#filter-error", Static)
        try:
            run_filter = parse_filter(event.value)
        except FilterError as exc:
            error.update(f"[red]{literal(str(exc))}[/]")
            error.display = True
            return
        error.display = False
        event.input.display = False
        self.table.set_filter(run_filter)
        self.set_focus(self.table)
        for key in unknown_keys(run_filter, self.table.runs.values()):
            self.notify(f"No run has a field, metric or config key {key!r} (yet), so that "
                        f"condition matches none; dotted config keys match by their last part.",
                        severity="warning", markup=False)

    def action_sort(self) -> None:
        from .dialogs import SortScreen

        columns = [(column.key, column.label) for column in self.table.spec]
        current = self.table.sort_column

        def chosen(key: str | None) -> None:
            if key:
                self.table.sort_by(key)

        self.console_app.open_dialog(SortScreen(columns, current, self.table.sort_reverse), chosen)

    @on(RunsTable.HeaderSelected, "#runs")
    def _header_clicked(self, event: RunsTable.HeaderSelected) -> None:
        self.table.sort_by(event.column_key)

    @on(RunsTable.RowSelected, "#runs")
    def _open_detail(self, event: RunsTable.RowSelected) -> None:
        self.console_app.open_detail(event.row_key)

    @on(DataTable.RowSelected, "#ops")
    def _open_op_run(self, event: DataTable.RowSelected) -> None:
        run_id = str(event.data_table.get_row(event.row_key)[2])
        if run_id.isdigit():
            self.console_app.open_detail(int(run_id))

    def action_logs(self) -> None:
        self.console_app.open_logs()

    def action_experiments(self) -> None:
        self.console_app.open_experiments()

    def action_focus_next_pane(self) -> None:
        ops = self.query_one("#ops", OpsTable)
        self.set_focus(self.table if ops.has_focus else ops)

    @on(OpsApplied)
    def _ops_applied(self, message: OpsApplied) -> None:
        # The marks have been used once the ops went to exactly the marked runs.
        marked = self.table.marked
        if marked and set(message.run_ids) == marked:
            self.table.clear_marks()
        self.poll_now()

