"""Command palette entries: every IC op and every screen, by name."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from textual.command import DiscoveryHit, Hit, Hits, Provider

from .access import console_app
from .runs_screen import RunsScreen


class OpsCommands(Provider):
    """Ops on the marked runs (or the run under the cursor) of the runs screen the palette
    was opened on, and the console's screens."""

    def _commands(self) -> list[tuple[str, str, Callable[[], Any]]]:
        app = console_app(self)
        commands: list[tuple[str, str, Callable[[], Any]]] = [
            ("Show the experiment log", "follow, search, IC ops only", app.open_logs),
            ("Switch experiment", "list every experiment with its status", app.open_experiments),
            ("Pause or resume refresh", "stop or restart the live refresh", app.action_pause),
            ("Help: every key", "", app.action_help),
        ]
        screen = self.screen
        if not isinstance(screen, RunsScreen):
            return commands
        commands[3:3] = [
            ("Filter runs", "STOPPED, text, or key op value", screen.action_filter),
            ("Sort runs", "choose a column to sort by", screen.action_sort),
        ]
        runs = screen.runs_for_op()
        if app.readonly or not runs:
            return commands
        ids = [run.run_id for run in runs]
        target = (f"{len(ids)} marked runs" if len(ids) > 1 else f"run {ids[0]}")
        commands = [
            (f"Stop {target}", "IC op: stop", partial(app.queue_op, "STOP", runs)),
            (f"Resume {target}", "IC op: resume", partial(app.queue_op, "RESUME", runs)),
            (f"Delete {target}", "IC op: delete (asks first)", partial(app.queue_op, "DELETE", runs)),
            (f"Clone-modify {target}", "IC op: edit the config, warm start or not",
             partial(app.open_clone, runs[0] if runs else None, runs)),
        ] + commands
        return commands

    async def discover(self) -> Hits:
        for name, help_text, callback in self._commands():
            yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, callback in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)
