"""The parts of a KeyedTable: its columns, what a cell offers, and how a row becomes segments."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip

CELL_PADDING = 1  # blank cells each side of a column, as DataTable has
ELLIPSIS = "…"


class Cell(Protocol):
    """What a table cell offers: its text, its style (rich style text) and its sort key."""

    @property
    def text(self) -> str: ...

    @property
    def style(self) -> str: ...

    @property
    def sort_tuple(self) -> tuple[int, Any]: ...


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    width: int  # the cells' width, without the padding

    @property
    def render_width(self) -> int:
        return self.width + 2 * CELL_PADDING


def fit(text: str, width: int) -> str:
    """`text` in exactly `width` cells: padded, or cut with an ellipsis."""
    if cell_len(text) <= width:
        return set_cell_size(text, width)
    if width <= 0:
        return ""
    return set_cell_size(text, width - 1) + ELLIPSIS


def cell_segments(text: str, pre: Style, own: Style, over: Style | None, width: int) -> list[Segment]:
    """One cell: padding in the row's style, the text in the row's, then its own, style
    (`over`, the cursor's colour, on top of both)."""
    shown = fit(text, width)
    text_part = shown.rstrip(" ")
    gap = " " * (CELL_PADDING + len(shown) - len(text_part))
    text_style = pre + own
    if over is not None:
        text_style += over
    return [Segment(" " * CELL_PADDING, pre), Segment(text_part, text_style), Segment(gap, pre)]


def split_line(cells: list[list[Segment]], fixed_columns: int) -> tuple[Strip, Strip]:
    """A row's cells as the strip of its fixed columns and the strip of the others."""
    fixed = [segment for cell in cells[:fixed_columns] for segment in cell]
    scrolling = [segment for cell in cells[fixed_columns:] for segment in cell]
    return Strip(fixed), Strip(scrolling)
