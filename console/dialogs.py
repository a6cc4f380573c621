"""Small dialogs: confirm an op, choose a sort column, and the help screen."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Footer, OptionList, Static
from textual.widgets.option_list import Option

from .cells import literal


class ConfirmScreen(ModalScreen[bool]):
    """Ask one yes/no question; y confirms, n or escape cancels (and so does enter: Cancel
    has the focus, so that a stray enter never deletes a run)."""

    AUTO_FOCUS = "#confirm-no"
    BINDINGS = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]

    def __init__(self, question: str, *, confirm_label: str = "Yes", danger: bool = False) -> None:
        super().__init__()
        self.question = question
        self.confirm_label = confirm_label
        self.danger = danger

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-dialog", classes="dialog"):
            yield Static(self.question, id="confirm-question", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button(f"{self.confirm_label} (y)", id="confirm-yes",
                             variant="error" if self.danger else "primary")
                yield Button("Cancel (n)", id="confirm-no")
        yield Footer()

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "confirm-yes")


class SortScreen(ModalScreen[str | None]):
    """Pick the column to sort the runs by; picking the current one reverses the order."""

    AUTO_FOCUS = "#sort-options"
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, columns: list[tuple[str, str]], current: str | None,
                 reverse: bool) -> None:
        super().__init__()
        self.columns = columns
        self.current = current
        self.reverse = reverse

    def compose(self) -> ComposeResult:
        with Vertical(id="sort-dialog", classes="dialog"):
            yield Static("Sort runs by (the current column again reverses it)")
            options = []
            for key, label in self.columns:
                arrow = (" ▼" if self.reverse else " ▲") if key == self.current else ""
                options.append(Option(Text(f"{label}{arrow}"), id=key))
            yield OptionList(*options, id="sort-options")
        yield Footer()

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        keys = [key for key, _ in self.columns]
        options.highlighted = keys.index(self.current) if self.current in keys else 0

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)


FILTER_HELP = (
    "[b]Filter[/b] ( / )\n"
    "  a status (STOPPED, or status:STOPPED), some text, or key op value with op one of\n"
    "  = != > >= < <= ~ (contains): a run field (id, name, status, source, parent,\n"
    "  progress, epoch, chunk), a metric (val_loss < 0.5) or a config key, dotted or by\n"
    "  its last part (optimizer.learning_rate > 0.01); several joined by 'and'."
)


def key_sections(screen: Screen[Any]) -> list[tuple[str, list[tuple[str, str]]]]:
    """The keys active on `screen`, grouped by where they act, read from the bindings."""
    app = screen.app
    sections: dict[str, dict[tuple[int, str], tuple[list[str], str]]] = {}
    for active in screen.active_bindings.values():
        binding = active.binding
        if not binding.description:
            continue
        node = active.node
        if isinstance(node, App):
            title = "Everywhere"
        else:
            title = getattr(node, "HELP_TITLE", "") or "In the focused pane"
        entries = sections.setdefault(title, {})
        what = binding.tooltip or binding.description
        keys, _ = entries.setdefault((id(node), binding.action), ([], what))
        shown = app.get_key_display(binding)
        if shown not in keys:
            keys.append(shown)
    # The screen's own keys first, then the focused pane's, then those that work everywhere.
    first = getattr(screen, "HELP_TITLE", "")
    order = sorted(sections, key=lambda title: (title != first, title == "Everywhere"))
    return [(title, [(" ".join(keys), what) for keys, what in sections[title].values()])
            for title in order]


class HelpScreen(ModalScreen[None]):
    """The keys of the screen it was opened on, as its bindings declare them."""

    BINDINGS = [Binding("escape,question_mark,q", "close", "Close")]

    def __init__(self, sections: list[tuple[str, list[tuple[str, str]]]], *,
                 readonly: bool = False, filter_help: bool = False) -> None:
        super().__init__()
        self.sections = sections
        self.readonly = readonly
        self.filter_help = filter_help

    def compose(self) -> ComposeResult:
        lines = []
        if self.readonly:
            lines.append("[b]Read-only[/b] (--readonly): the IC op keys only say so.")
        for title, keys in self.sections:
            lines.append(f"[b]{literal(title)}[/b]")
            lines += [f"  [b reverse] {literal(key)} [/] {literal(what)}" for key, what in keys]
        if self.filter_help:
            lines.append(FILTER_HELP)
        with VerticalScroll(id="help-dialog", classes="dialog"):
            yield Static("\n".join(lines), id="help-text")
        yield Footer()

    def action_close(self) -> None:
        self.dismiss(None)
