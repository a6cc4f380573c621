"""How a run's values look in a table cell: status colours, progress bars, sparklines, numbers."""

from __future__ import annotations

from typing import Any

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.text import Text

STATUS_STYLES = {
    "NEW": "bold cyan",
    "ONGOING": "bold green",
    "COMPLETED": "bold blue",
    "STOPPED": "bold yellow",
    "FAILED": "bold red",
    "KILLED": "dim magenta",
}
OP_STATUS_STYLES = {
    "PENDING": "bold yellow",
    "COMPLETED": "green",
    "SKIPPED": "magenta",
    "FAILED": "bold red",
}
SPARK_BLOCKS = "▁▂▃▄▅▆▇█"
ZERO_WIDTH_SPACE = "\u200b"
BAR_WIDTH = 10


def literal(text: str) -> str:
    """`text` for a place in a Textual markup string, shown exactly as typed.

    Every "[" gets a backslash: the escape() of rich and of Textual only escapes
    what looks like a whole tag, so "[(" or "[b" were left as they were and
    swallowed the closing tag after them. A trailing backslash would escape
    the tag that follows it, so an invisible zero-width space keeps them apart.
    """
    text = text.replace("[", "\\[")
    return text + ZERO_WIDTH_SPACE if text.endswith("\\") else text


class SortableCell:
    """A table cell: its text, style and sort key (numbers sort as numbers).

    A slotted object rather than a rich Text, because a table of 10,000 runs
    holds some 160,000 cells; the Text is made only for the rows on screen.
    """

    __slots__ = ("text", "style", "sort_tuple")

    def __init__(self, text: str, sort_value: Any, style: str = "") -> None:
        self.text = text
        self.style = style
        self.sort_tuple = sort_key(sort_value)

    # A renderable rather than `__rich__`: the table measures every new cell, and a cell that
    # measures itself (its text's length) spares making a Text for each of 160,000 cells.
    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield self.rich_text()

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        width = cell_len(self.text)
        return Measurement(width, width)

    def rich_text(self) -> Text:
        return Text(self.text, style=self.style, no_wrap=True, overflow="ellipsis")

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"SortableCell({self.text!r})"

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, SortableCell) and self.text == other.text
                and self.style == other.style and self.sort_tuple == other.sort_tuple)

    __hash__ = None  # type: ignore[assignment]


def sort_key(value: Any) -> tuple[int, Any]:
    """Missing values last, numbers before text, so mixed columns still sort."""
    if value is None:
        return (2, 0)
    if isinstance(value, bool):
        return (0, int(value))
    if isinstance(value, (int, float)):
        return (0, value)
    return (1, str(value).lower())


def status_cell(status: str) -> SortableCell:
    return SortableCell(status, status, STATUS_STYLES.get(status, ""))


def op_status_text(status: str) -> Text:
    return Text(status, style=OP_STATUS_STYLES.get(status, ""))


def progress_bar(fraction: float, width: int = BAR_WIDTH) -> str:
    fraction = min(1.0, max(0.0, fraction))
    filled = round(fraction * width)
    return "█" * filled + "░" * (width - filled) + f" {fraction * 100:3.0f}%"


def progress_cell(fraction: float) -> SortableCell:
    style = "green" if fraction >= 1.0 else ""
    return SortableCell(progress_bar(fraction), fraction, style)


def sparkline(values: list[float]) -> str:
    """Unicode block sparkline of a series; a flat series is a flat line."""
    if not values:
        return ""
    low, high = min(values), max(values)
    span = high - low
    top = len(SPARK_BLOCKS) - 1
    if span <= 0:
        return SPARK_BLOCKS[top // 2] * len(values)
    return "".join(SPARK_BLOCKS[round((v - low) / span * top)] for v in values)


def format_number(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value:  # NaN
            return "nan"
        if value == 0 or 1e-3 <= abs(value) < 1e5:
            return f"{value:.4g}"
        return f"{value:.2e}"
    return str(value)


def value_cell(value: Any) -> SortableCell:
    return SortableCell(format_number(value), value)


def fraction_cell(done: int, total: int) -> SortableCell:
    return SortableCell(f"{done}/{total}", done)
