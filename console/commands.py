"""Command palette entries: every IC op and every screen, by name."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from textual.command import DiscoveryHit, Hit, Hits, Provider

from .access import console_app


class OpsCommands(Provider):
    """Ops on the marked runs (or the run under the cursor), and the console's screens."""

    def _commands(self) -> list[tuple[str, str, Callable[[], Any]]]:
        app = console_app(self)
        commands: list[tuple[str, str, Callable[[], Any]]] = [
            ("Show the experiment log", "follow, search, IC ops only", app.open_logs),
            ("Switch experiment", "list every experiment with its status", app.open_experiments),
            ("Pause or resume refresh", "stop or restart the live refresh",
             app.runs_screen.action_pause),
            ("Filter runs", "STOPPED, text, or key op value", app.runs_screen.action_filter),
            ("Sort runs", "choose a column to sort by", app.runs_screen.action_sort),
            ("Help: every key", "", app.action_help),
        ]
        if app.readonly:
            return commands
        table = app.runs_screen.table
        ids = table.selected_run_ids()
        if not ids:
            return commands
        target = (f"{len(ids)} marked runs" if len(ids) > 1 else f"run {ids[0]}")
        runs = [table.runs[i] for i in ids if i in table.runs]
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
