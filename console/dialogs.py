"""Small dialogs: confirm an op, choose a sort column, and the help screen."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, OptionList, Static
from textual.widgets.option_list import Option


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


HELP_SECTIONS: list[tuple[str, list[tuple[str, str]]]] = [
    ("Runs", [
        ("↑ ↓ PgUp PgDn Home End", "move the cursor"),
        ("← →", "scroll the columns sideways (ID and name stay)"),
        ("enter", "open the run's detail"),
        ("space", "mark or unmark the run (ops then apply to every marked run)"),
        ("a", "mark every run shown"),
        ("escape", "clear the marks, then the filter"),
        ("/", "filter: STOPPED, some text, or key op value (lr > 0.01, "
              "val_accuracy >= 0.8, status = STOPPED), joined by 'and'"),
        ("o", "sort by a column (again to reverse); clicking a header also sorts"),
        ("tab", "move between the runs table and the ops pane (enter: the op's run)"),
        ("p", "pause or resume the live refresh"),
        ("+ =", "refresh less often"),
        ("-", "refresh more often"),
    ]),
    ("IC ops (not in --readonly)", [
        ("s", "stop the run(s)"),
        ("r", "resume the run(s)"),
        ("d", "delete the run(s), after a confirmation"),
        ("c", "clone-modify: edit the config, warm start or not (marked runs: each one)"),
        ("ctrl+s", "in the clone editor: submit (escape cancels)"),
        ("y n", "in a confirmation: yes or no"),
    ]),
    ("Screens", [
        ("l", "the experiment log"),
        ("f", "in the log: follow new lines, or stop following"),
        ("i", "in the log: only the IC-ops lines, or every line"),
        ("home g end G", "in the log: first or last line ( / searches)"),
        ("e", "switch experiment"),
        ("ctrl+p", "command palette: every op and screen by name"),
        ("?", "this help"),
        ("escape backspace", "back / close"),
        ("q", "quit (also ends the demo experiment)"),
    ]),
]


class HelpScreen(ModalScreen[None]):
    """Every key of the console, on one page."""

    BINDINGS = [Binding("escape,question_mark,q", "close", "Close")]

    def __init__(self, *, readonly: bool = False) -> None:
        super().__init__()
        self.readonly = readonly

    def compose(self) -> ComposeResult:
        lines = []
        for title, keys in HELP_SECTIONS:
            if self.readonly and title.startswith("IC ops"):
                lines.append("[b]IC ops[/b]\n  turned off: the console is read-only (--readonly)")
                continue
            lines.append(f"[b]{title}[/b]")
            lines += [f"  [b reverse] {key} [/] {what}" for key, what in keys]
        with VerticalScroll(id="help-dialog", classes="dialog"):
            yield Static("\n".join(lines), id="help-text")
        yield Footer()

    def action_close(self) -> None:
        self.dismiss(None)
