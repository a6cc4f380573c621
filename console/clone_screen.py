"""The clone-modify dialog: edit the parent's config, see the diff, submit with or without warm start."""

from __future__ import annotations

import json
from typing import Any

from rfconsole.db.configs import flatten, merge_patch, validate_config
from rfconsole.db.errors import StoreError
from rfconsole.db.models import RunRead
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Label, Static, Switch, TextArea

from .access import console_app
from .cells import format_number, literal
from .ops import OpOutcome, request_ops


def merge_patch_between(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The RFC 7396 patch that turns `old` into `new` (a removed key becomes null)."""
    patch: dict[str, Any] = {key: None for key in old if key not in new}
    for key, value in new.items():
        if key in old and isinstance(old[key], dict) and isinstance(value, dict):
            nested = merge_patch_between(old[key], value)
            if nested:
                patch[key] = nested
        elif key not in old or old[key] != value:
            patch[key] = value
    return patch


def _contains_null(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, dict):
        return any(_contains_null(v) for v in value.values())
    return False


def parse_config(text: str, schema: dict[str, Any] | None) -> tuple[dict[str, Any] | None, str | None]:
    """The edited config (None unless it is a JSON object) and what is wrong with it, if anything."""
    try:
        config = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, f"The config is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}."
    if not isinstance(config, dict):
        return None, "The config must be a JSON object ({...})."
    if _contains_null(config):
        return None, "A clone's config cannot hold null values; remove the key instead."
    try:
        validate_config(config, schema)
    except StoreError as exc:
        return config, exc.message  # readable JSON: the diff can still be shown
    return config, None


def describe_diff(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    before, after = flatten(old), flatten(new)
    lines = []
    for key in sorted(set(before) | set(after)):
        if key not in after:
            lines.append(f"[red]- {literal(key)}: {literal(format_number(before[key]))}[/]")
        elif key not in before:
            lines.append(f"[green]+ {literal(key)}: {literal(format_number(after[key]))}[/]")
        elif before[key] != after[key]:
            lines.append(f"[yellow]~ {literal(key)}: {literal(format_number(before[key]))} → "
                         f"{literal(format_number(after[key]))}[/]")
    return lines


class CloneScreen(ModalScreen[list[OpOutcome] | None]):
    """Dismisses with one outcome per target run (each names its new run), or None if cancelled.

    With one target the edited text is the clone's whole config (a key deleted in it is gone).
    With several (the marked runs) the editor holds the first one's config, and the changes
    made to it are applied to every target as one JSON Merge Patch.
    """

    AUTO_FOCUS = "#clone-config"
    BINDINGS = [
        Binding("ctrl+s", "submit", "Submit", priority=True),
        # The editor would otherwise take escape to leave the text area.
        Binding("escape", "cancel", "Cancel", priority=True),
    ]

    class Submitted(Message):
        def __init__(self, outcomes: list[OpOutcome], error: str | None) -> None:
            super().__init__()
            self.outcomes = outcomes
            self.error = error

    def __init__(self, parent: RunRead, schema: dict[str, Any] | None,
                 targets: list[RunRead] | None = None) -> None:
        super().__init__()
        self.parent_run = parent
        self.targets = targets or [parent]
        self.schema = schema
        self.config: dict[str, Any] | None = parent.config_leaf
        self.error: str | None = None
        self.busy = False

    def compose(self) -> ComposeResult:
        run = self.parent_run
        with Vertical(id="clone-dialog", classes="dialog"):
            if len(self.targets) > 1:
                ids = ", ".join(str(target.run_id) for target in self.targets)
                title = (f"Clone-modify {len(self.targets)} marked runs ({ids}): edit run "
                         f"{run.run_id}'s config; the same changes apply to each run. "
                         f"ctrl+s submits, escape cancels.")
            else:
                title = (f"Clone-modify run {run.run_id} ({run.run_name}, {run.status}): "
                         f"edit the config. ctrl+s submits, escape cancels.")
            yield Static(title, id="clone-title", markup=False)
            with Horizontal(id="clone-body"):
                yield TextArea(json.dumps(run.config_leaf, indent=2, sort_keys=True),
                               id="clone-config", show_line_numbers=True, tab_behavior="focus")
                yield Static(id="clone-diff")
            yield Static(id="clone-error")
            with Horizontal(id="clone-options"):
                yield Switch(value=False, id="warm-start")
                hint = ("" if run.checkpoint_path
                        else " (this run has no checkpoint yet: warm start will be refused)")
                yield Label(f"warm start from run {run.run_id}'s checkpoint{hint}",
                            id="warm-start-label")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Submit (ctrl+s)", id="clone-submit", variant="primary")
                yield Button("Cancel (esc)", id="clone-cancel")
        yield Footer()

    def on_mount(self) -> None:
        self._check(self.query_one("#clone-config", TextArea).text)

    @on(TextArea.Changed, "#clone-config")
    def _edited(self, event: TextArea.Changed) -> None:
        self._check(event.text_area.text)

    def _check(self, text: str) -> None:
        self.config, self.error = parse_config(text, self.schema)
        if self.config is not None and self.error is None:
            self.error = self._error_in_other_targets(self.config)
        self._show_error(self.error)
        diff = self.query_one("#clone-diff", Static)
        if self.config is None:
            diff.update("[dim]Diff against the parent appears when the config is valid.[/]")
            return
        lines = describe_diff(self.parent_run.config_leaf, self.config)
        header = f"[b]Changes against run {self.parent_run.run_id}[/b]"
        diff.update("\n".join([header] + (lines or ["[dim]none: an exact copy[/]"])))

    def _error_in_other_targets(self, config: dict[str, Any]) -> str | None:
        patch = merge_patch_between(self.parent_run.config_leaf, config)
        for target in self.targets:
            if target.run_id == self.parent_run.run_id:
                continue
            try:
                validate_config(merge_patch(target.config_leaf, patch), self.schema)
            except StoreError as exc:
                return f"For run {target.run_id}: {exc.message}"
        return None

    def _show_error(self, error: str | None) -> None:
        box = self.query_one("#clone-error", Static)
        box.update(f"[b red]✗[/] {literal(error)}" if error else "")
        box.set_class(bool(error), "has-error")
        self.query_one("#clone-submit", Button).disabled = bool(error)

    def action_submit(self) -> None:
        if self.busy or self.config is None or self.error:
            return
        self.busy = True
        if len(self.targets) == 1:
            change = {"config": self.config}
        else:
            change = {"config_patch": merge_patch_between(self.parent_run.config_leaf, self.config)}
        warm = self.query_one("#warm-start", Switch).value
        self._request(change, warm)

    @work(thread=True, group="clone", exit_on_error=False)
    def _request(self, change: dict[str, dict[str, Any]], warm: bool) -> None:
        app = console_app(self)
        try:
            outcomes = request_ops(app.store, "CLONE_MODIFY",
                                   [target.run_id for target in self.targets],
                                   origin=app.origin, experiment=app.current_experiment,
                                   warm_start=warm, **change)
        except Exception as exc:
            self.post_message(self.Submitted([], f"The clone request could not be saved "
                                                 f"({type(exc).__name__}); try again."))
            return
        # One run refused: say why here and let the user fix it; several: report them all.
        refusal = outcomes[0].refusal if len(outcomes) == 1 else None
        self.post_message(self.Submitted(outcomes, refusal))

    @on(Submitted)
    def _submitted(self, message: Submitted) -> None:
        self.busy = False
        if message.error or not message.outcomes:
            self._show_error(message.error)
            self.query_one("#clone-submit", Button).disabled = False
            return
        self.dismiss(message.outcomes)

    @on(Button.Pressed, "#clone-submit")
    def _submit_pressed(self) -> None:
        self.action_submit()

    @on(Button.Pressed, "#clone-cancel")
    def action_cancel(self) -> None:
        if self.busy:  # the request cannot be taken back: stay to show what became of it
            self.notify("The clone request is being saved; wait for its outcome.",
                        severity="warning")
            return
        self.dismiss(None)
