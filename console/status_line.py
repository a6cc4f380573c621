"""The status lines of the runs and logs screens.

Each is a widget whose reactive attributes are bound to its screen's (`data_bind`)
or watch the app's refresh settings; it redraws itself when one of them changes, so
no screen has to remember to refresh it. They change the layout: a longer status
may wrap onto another line.
"""

from __future__ import annotations

from rfconsole.db.models import RUN_STATUSES, ExperimentRead
from textual.content import Content
from textual.reactive import reactive
from textual.widget import Widget

from .access import console_app
from .cells import STATUS_STYLES, literal
from .run_columns import TableSummary


class RunsStatus(Widget):
    """The experiment, its runs per status, marks, filter, columns in view, refresh and errors."""

    experiment: reactive[ExperimentRead | None] = reactive(None, layout=True)
    summary: reactive[TableSummary] = reactive(TableSummary(), layout=True)
    load_error: reactive[str | None] = reactive(None, layout=True)
    paused: reactive[bool] = reactive(False, layout=True)
    interval: reactive[float] = reactive(1.0, layout=True)

    def __init__(self, *, readonly: bool = False, id: str | None = None) -> None:
        super().__init__(id=id)
        self.readonly = readonly

    def on_mount(self) -> None:
        app = console_app(self)
        self.watch(app, "refresh_paused", self._paused_changed)
        self.watch(app, "refresh_interval", self._interval_changed)

    def _paused_changed(self, paused: bool) -> None:
        self.paused = paused

    def _interval_changed(self, interval: float) -> None:
        self.interval = interval

    def markup(self) -> str:
        parts = []
        experiment, summary = self.experiment, self.summary
        if experiment is None:
            parts.append("[b]no experiment[/b]")
        else:
            counts = dict(summary.counts)
            per_status = "  ".join(f"[{STATUS_STYLES[s]}]{counts[s]} {s}[/]"
                                   for s in RUN_STATUSES if counts.get(s))
            parts.append(f"[b]{literal(experiment.name)}[/b] ({experiment.status})  "
                         f"{per_status or 'no runs yet'}")
            if summary.marked:
                parts.append(f"[b yellow]{summary.marked} marked[/]")
            if summary.filter_text:
                matched = (f"{summary.shown} of {summary.total} shown" if summary.shown else
                           f"[b red]no run matches[/] of {summary.total}; escape clears")
                parts.append(f"filter: [b]{literal(summary.filter_text)}[/b] ({matched})")
            if summary.column_window:
                parts.append(summary.column_window)
        parts.append("[b yellow]paused[/]" if self.paused else f"every {self.interval:g}s")
        if self.readonly:
            parts.append("[b]read-only[/b]")
        if self.load_error:
            parts.append(f"[red]{literal(self.load_error)}[/]")
        return " · ".join(parts)

    def render(self) -> Content:
        return Content.from_markup(self.markup())


class LogsStatus(Widget):
    """Following or not, which components, the search, and how many lines are shown."""

    follow: reactive[bool] = reactive(True, layout=True)
    ic_only: reactive[bool] = reactive(False, layout=True)
    search: reactive[str] = reactive("", layout=True)
    shown: reactive[int | None] = reactive(None, layout=True)

    def markup(self) -> str:
        parts = [f"[b]{'following' if self.follow else 'not following'}[/b] (f)",
                 "IC ops only (i)" if self.ic_only else "all components (i: IC ops only)"]
        if self.search:
            parts.append(f"search: [b]{literal(self.search)}[/b]")
        if self.shown is not None:
            parts.append(f"{self.shown} lines")
        return " · ".join(parts)

    def render(self) -> Content:
        return Content.from_markup(self.markup())
