"""Run detail: summary, lineage, config as highlighted JSON, live metric plots, the run's ops."""

from __future__ import annotations

import json
from typing import Any

from rfconsole.db.models import MetricPoint
from rich.syntax import Syntax
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Footer, Header, Label, Static
from textual_plotext import PlotextPlot

from .cells import STATUS_STYLES, format_number, literal, progress_bar
from .data import RunDetail, read_run_detail
from .ops import READONLY_OPS, op_key_allowed
from .ops_table import OpsTable
from .polling import PollingScreen


def split_metrics(history: dict[str, list[MetricPoint]]) -> tuple[list[str], list[str]]:
    """Loss-like metrics for the first plot, accuracy-like (everything else) for the second."""
    losses = sorted(name for name in history if "loss" in name.lower())
    others = sorted(name for name in history if name not in losses)
    return losses, others


def lineage_text(detail: RunDetail) -> str:
    run = detail.run
    lines = ["[b]Lineage[/b]"]
    if detail.parent is not None:
        start = "warm start from its checkpoint" if run.warm_start else "cold start"
        lines.append(f"  parent: run {detail.parent.run_id} ({literal(detail.parent.run_name)}, "
                     f"{detail.parent.status}), {start}")
    else:
        lines.append(f"  source: {run.source} (an original config of the experiment)")
    if detail.clones:
        for clone in detail.clones:
            start = "warm" if clone.warm_start else "cold"
            lines.append(f"  clone: run {clone.run_id} ({literal(clone.run_name)}, {clone.status}, "
                         f"{start})")
    else:
        lines.append("  no clones")
    return "\n".join(lines)


def full_number(value: Any) -> str:
    """A metric as precisely as it is useful to read (the table shows 4 digits)."""
    return f"{value:.10g}" if isinstance(value, float) else format_number(value)


def summary_text(detail: RunDetail) -> str:
    run = detail.run
    style = STATUS_STYLES.get(run.status, "")
    # One label and its value per line: a narrow pane never wraps between the two.
    lines = [
        f"[b]{literal(run.run_name)}[/b] (id {run.run_id}) [{style}]{run.status}[/]",
        f"progress {progress_bar(run.progress)}",
        f"epoch    {run.current_epoch}/{run.num_epochs}",
        f"chunk    {run.current_chunk}/{run.num_chunks}",
        f"steps    {run.completed_steps}",
    ]
    width = max((len(name) for name in run.metrics), default=0)
    lines += [f"{literal(name.ljust(width))} [b]{literal(full_number(value))}[/b]"
              for name, value in sorted(run.metrics.items())]
    if run.error:
        lines.append(f"[red]error: {literal(run.error)}[/]")
    if run.ended_by:
        lines.append(f"ended by {literal(run.ended_by)}")
    return "\n".join(lines)


class RunDetailScreen(PollingScreen):
    """One run, refreshed live; s/r/d/c apply to it."""

    HELP_TITLE = "Run detail"
    BINDINGS = [
        Binding("q", "app.quit", "Quit"),
        Binding("question_mark", "app.help", "Help", tooltip="the keys of this screen"),
        Binding("escape,backspace", "back", "Back", tooltip="back to the runs"),
        Binding("s", "stop", "Stop"),
        Binding("r", "resume", "Resume"),
        Binding("d", "delete", "Delete"),
        Binding("c", "clone", "Clone"),
        READONLY_OPS,
    ]

    def __init__(self, run_id: int) -> None:
        super().__init__()
        self.run_id = run_id
        self.detail: RunDetail | None = None
        self._plotted: Any = None
        self._config_shown: Any = None

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        with Horizontal(id="detail-body"):
            with VerticalScroll(id="detail-left"):
                yield Static(f"Loading run {self.run_id}…", id="detail-summary")
                yield Static(id="detail-lineage")
                yield Label("Config", classes="section-title")
                yield Static(id="detail-config")
            with Vertical(id="detail-plots"):
                yield PlotextPlot(id="loss-plot")
                yield PlotextPlot(id="accuracy-plot")
        with Vertical(id="detail-ops-pane"):
            yield Label("IC ops on this run (newest first)", classes="section-title")
            yield OpsTable(id="detail-ops")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"run {self.run_id}"

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return op_key_allowed(action, self.console_app.readonly)

    def action_read_only(self) -> None:
        self.console_app.refuse_op()

    def prepare_read(self) -> Any:
        return self.console_app.store

    def read_data(self, store: Any) -> RunDetail:
        return read_run_detail(store, self.run_id)

    def show_data(self, detail: RunDetail) -> None:
        self.detail = detail
        self.sub_title = f"{detail.experiment.name} · run {detail.run.run_id}"
        self.query_one("#detail-summary", Static).update(summary_text(detail))
        self.query_one("#detail-lineage", Static).update(lineage_text(detail))
        if detail.run.config_leaf != self._config_shown:
            self._config_shown = detail.run.config_leaf
            config = json.dumps(detail.run.config_leaf, indent=2, sort_keys=True)
            self.query_one("#detail-config", Static).update(
                Syntax(config, "json", theme="ansi_dark", word_wrap=True, background_color="default"))
        self.query_one("#detail-ops", OpsTable).show_ops(detail.ops,
                                                         detail.experiment.controller_alive)
        self._plot(detail.history)

    def _plot(self, history: dict[str, list[MetricPoint]]) -> None:
        signature = {name: len(points) for name, points in history.items()}
        if signature == self._plotted:
            return
        self._plotted = signature
        losses, others = split_metrics(history)
        for widget_id, names, title in (("#loss-plot", losses, "loss"),
                                        ("#accuracy-plot", others, "accuracy / other")):
            widget = self.query_one(widget_id, PlotextPlot)
            plt = widget.plt
            plt.clear_data()
            plt.clear_figure()
            plt.title(title if names else f"{title}: no points yet")
            plt.xlabel("step")
            for name in names:
                points = history[name]
                plt.plot([p.step for p in points], [p.value for p in points], label=name,
                         marker="braille")
            widget.refresh()

    def _runs(self) -> list[Any]:
        return [self.detail.run] if self.detail else []

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_stop(self) -> None:
        self.console_app.queue_op("STOP", self._runs())

    def action_resume(self) -> None:
        self.console_app.queue_op("RESUME", self._runs())

    def action_delete(self) -> None:
        self.console_app.queue_op("DELETE", self._runs())

    def action_clone(self) -> None:
        self.console_app.open_clone(self.detail.run if self.detail else None)
