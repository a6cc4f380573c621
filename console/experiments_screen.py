"""The experiment switcher: every experiment with its status and number of runs."""

from __future__ import annotations

from rfconsole.db.models import ExperimentRead
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Label

from .access import console_app
from .data import read_experiments
from .polling import failure_sentence

EXPERIMENT_STYLES = {"running": "bold green", "completed": "blue", "failed": "bold red",
                     "cancelled": "yellow"}


class ExperimentsScreen(ModalScreen[int | None]):
    """Dismisses with the chosen experiment's id (enter), or None (escape)."""

    AUTO_FOCUS = "#experiments"
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    class Loaded(Message):
        def __init__(self, rows: list[tuple[ExperimentRead, int]] | None, error: str | None):
            super().__init__()
            self.rows = rows
            self.error = error

    def __init__(self, current_id: int | None) -> None:
        super().__init__()
        self.current_id = current_id

    def compose(self) -> ComposeResult:
        with Vertical(id="experiments-dialog", classes="dialog"):
            yield Label("Experiments (enter switches, escape closes)")
            yield DataTable(id="experiments", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for label, key in (("", "current"), ("Name", "name"), ("Status", "status"),
                           ("Runs", "runs"), ("Created (UTC)", "created")):
            table.add_column(label, key=key)
        self._load()

    @work(thread=True, exclusive=True, exit_on_error=False, group="experiments")
    def _load(self) -> None:
        app = console_app(self)
        try:
            self.post_message(self.Loaded(read_experiments(app.store), None))
        except Exception as exc:
            self.post_message(self.Loaded(None, failure_sentence(exc)))

    @on(Loaded)
    def _loaded(self, message: Loaded) -> None:
        if message.error or message.rows is None:
            self.notify(message.error or "", severity="error", markup=False)
            return
        table = self.query_one(DataTable)
        if not message.rows:
            table.add_row("", "No experiments yet: start one with `rfconsole demo`.", "", "", "")
            return
        for index, (experiment, count) in enumerate(message.rows):
            table.add_row(
                "▶" if experiment.id == self.current_id else "",
                Text(experiment.name),
                Text(experiment.status, style=EXPERIMENT_STYLES.get(experiment.status, "")),
                str(count),
                f"{experiment.created_at:%Y-%m-%d %H:%M}",
                key=str(experiment.id),
            )
            if experiment.id == self.current_id:
                table.move_cursor(row=index, animate=False)

    @on(DataTable.RowSelected)
    def _chosen(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None and event.row_key.value.isdigit():
            self.dismiss(int(event.row_key.value))

    def action_cancel(self) -> None:
        self.dismiss(None)
