"""The experiment log: follow mode, search, and the IC-ops-only view."""

from __future__ import annotations

from rfconsole.db import experiment_log
from rfconsole.db.models import ExperimentRead
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.reactive import var
from textual.widgets import Footer, Header, Input, RichLog

from .polling import PollingScreen
from .status_line import LogsStatus

LINES_SHOWN = 2000
IC_COMPONENT = experiment_log.INTERACTIVE_CONTROL
LEVEL_STYLES = {"ERROR": "bold red", "WARNING": "yellow", "INFO": "", "DEBUG": "dim"}


def style_line(line: str, search: str) -> Text:
    parts = line.split(" | ", 4)
    text = Text(line, no_wrap=False)
    if len(parts) == 5:
        stamp_end = len(parts[0])
        text.stylize("dim", 0, stamp_end)
        text.stylize(LEVEL_STYLES.get(parts[3].strip(), ""), 0, len(line))
        component_start = len(" | ".join(parts[:2])) + 3
        text.stylize("cyan", component_start, component_start + len(parts[2]))
    if search:
        text.highlight_words([search], "black on yellow", case_sensitive=False)
    return text


class LogsScreen(PollingScreen):
    """The experiment log file, newest at the bottom."""

    HELP_TITLE = "Experiment log"
    BINDINGS = [
        Binding("q", "app.quit", "Quit"),
        Binding("question_mark", "app.help", "Help", tooltip="the keys of this screen"),
        Binding("escape", "back", "Back", tooltip="close the search, else back to the runs"),
        Binding("f", "follow", "Follow", tooltip="follow new lines, or stop following"),
        Binding("slash", "search", "Search", tooltip="show only the lines holding some text"),
        Binding("i", "ic_only", "IC ops only", tooltip="only the IC-ops lines, or every line"),
        Binding("home,g", "top", "Top", show=False, tooltip="first line"),
        Binding("end,G", "bottom", "End", show=False, tooltip="last line"),
    ]

    # What the status line shows (bound to it).
    follow: var[bool] = var(True)
    ic_only: var[bool] = var(False)
    search: var[str] = var("")
    shown: var[int | None] = var(None)  # lines shown, once read

    def __init__(self, experiment: ExperimentRead) -> None:
        super().__init__()
        self.experiment = experiment
        self.lines: list[str] = []
        self._needs_load = True

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        yield LogsStatus(id="logs-status").data_bind(LogsScreen.follow, LogsScreen.ic_only,
                                                     LogsScreen.search, LogsScreen.shown)
        yield Input(placeholder="search the log; enter applies, escape clears", id="log-search")
        yield RichLog(id="log", wrap=True, markup=False, auto_scroll=True, max_lines=LINES_SHOWN)
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"{self.experiment.name} · log"
        self.query_one("#log-search").display = False
        self.set_focus(self.query_one("#log", RichLog))

    def polling_allowed(self) -> bool:
        return self._needs_load or (self.follow and super().polling_allowed())

    def prepare_read(self) -> bool:
        return self.ic_only

    def read_data(self, ic_only: bool) -> list[str]:
        path = experiment_log.log_file(self.experiment.experiment_path)
        return experiment_log.tail(path, limit=LINES_SHOWN,
                                   component=IC_COMPONENT if ic_only else None)

    def show_data(self, lines: list[str]) -> None:
        rebuild = self._needs_load
        self._needs_load = False
        if not rebuild and lines == self.lines:
            return
        self.lines = lines
        self._render_lines()

    def _render_lines(self) -> None:
        log = self.query_one("#log", RichLog)
        log.auto_scroll = self.follow
        log.clear()
        shown = [line for line in self.lines
                 if not self.search or self.search.lower() in line.lower()]
        if not shown:
            empty = ("No IC-op lines yet." if self.ic_only else "The log is empty so far.")
            if self.search:
                empty = f"No line contains {self.search!r}."
            log.write(empty, expand=True)
        for line in shown:
            log.write(style_line(line, self.search), expand=True)
        self.shown = len(shown)

    def _reload(self) -> None:
        self._needs_load = True
        self.poll_now()

    def action_follow(self) -> None:
        self.follow = not self.follow
        self.query_one("#log", RichLog).auto_scroll = self.follow
        if self.follow:
            self._reload()

    def action_ic_only(self) -> None:
        self.ic_only = not self.ic_only
        self._reload()

    def action_search(self) -> None:
        field = self.query_one("#log-search", Input)
        field.display = True
        field.value = self.search
        self.set_focus(field)

    @on(Input.Submitted, "#log-search")
    def _search(self, event: Input.Submitted) -> None:
        self.search = event.value.strip()
        event.input.display = False
        self.set_focus(self.query_one("#log", RichLog))
        self._render_lines()

    def action_back(self) -> None:
        field = self.query_one("#log-search", Input)
        if field.display:
            field.display = False
            self.set_focus(self.query_one("#log", RichLog))
            return
        if self.search:
            self.search = ""
            self._render_lines()
            return
        self.app.pop_screen()

    def action_top(self) -> None:
        self.query_one("#log", RichLog).scroll_home(animate=False)

    def action_bottom(self) -> None:
        self.query_one("#log", RichLog).scroll_end(animate=False)
