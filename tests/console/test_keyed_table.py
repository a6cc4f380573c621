"""The runs table's widget: rows drawn only in view, sorted by key, the cursor kept by key."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from rfconsole.console.cells import SortableCell
from rfconsole.console.keyed_table import KeyedTable
from rfconsole.console.table_parts import Cell, Column, fit
from textual.app import App, ComposeResult

pytestmark = pytest.mark.anyio

ROWS = 5_000
COLUMNS = [Column("id", "ID", 5), Column("name", "Name", 8), Column("score", "Score", 6)]


class Scores(KeyedTable):
    def __init__(self, scores: dict[int, float]) -> None:
        super().__init__(fixed_columns=1, id="scores")
        self.scores = scores
        self.made: list[int] = []  # the rows whose cells were made, in order

    def make_cells(self, key: int) -> Sequence[Cell]:
        self.made.append(key)
        return [SortableCell(str(key), key), SortableCell(f"row {key}", key),
                SortableCell(f"{self.scores[key]:.2f}", self.scores[key], "bold")]

    def sort_key(self, key: int, column_key: str) -> tuple[int, Any]:
        return SortableCell("", self.scores[key] if column_key == "score" else key).sort_tuple


class TableApp(App[None]):
    def __init__(self, scores: dict[int, float]) -> None:
        super().__init__()
        self.scores = scores
        self.messages: list[Any] = []

    def compose(self) -> ComposeResult:
        yield Scores(self.scores)

    def on_mount(self) -> None:
        table = self.query_one(Scores)
        table.set_columns(COLUMNS, [column.label for column in COLUMNS])
        table.set_rows(sorted(self.scores))
        table.focus()

    def on_keyed_table_row_selected(self, message: KeyedTable.RowSelected) -> None:
        self.messages.append(("row", message.row_key))

    def on_keyed_table_header_selected(self, message: KeyedTable.HeaderSelected) -> None:
        self.messages.append(("header", message.column_key))


def shown_lines(table: KeyedTable) -> list[str]:
    return [table.render_line(y).text.rstrip() for y in range(table.size.height)]


async def test_only_the_rows_in_view_are_made_and_drawn() -> None:
    app = TableApp({key: key / ROWS for key in range(1, ROWS + 1)})
    async with app.run_test(size=(40, 12)) as pilot:
        await pilot.pause()
        table = app.query_one(Scores)
        assert table.row_count == ROWS
        assert len(set(table.made)) <= table.size.height  # not 5,000
        lines = shown_lines(table)
        assert lines[0].split() == ["ID", "Name", "Score"]
        assert lines[1].split() == ["1", "row", "1", "0.00"]
        await pilot.press("end")
        await pilot.pause()
        assert table.cursor_row == ROWS - 1
        assert shown_lines(table)[-1].split()[0] == str(ROWS)
        assert len(set(table.made)) <= 2 * table.size.height


async def test_sort_is_by_sort_key_stable_and_keeps_the_cursor_on_its_row() -> None:
    scores = {1: 0.5, 2: 0.1, 3: 0.5, 4: 0.9, 5: 0.1}
    app = TableApp(scores)
    async with app.run_test(size=(40, 12)) as pilot:
        await pilot.pause()
        table = app.query_one(Scores)
        table.move_cursor(row=table.get_row_index(3))
        table.sort("score")
        assert table.row_keys == [2, 5, 1, 3, 4]  # equal scores keep their order
        assert table.sort_key(3, "score") == (0, 0.5)
        table.move_cursor(row=table.get_row_index(3))
        assert table.cursor_key == 3
        table.sort("score", reverse=True)
        assert table.row_keys[0] == 4
        # A changed row says whether its place may have moved; unchanged rows are not re-keyed.
        scores[2] = 0.95
        assert table.refresh_row(2) is True
        assert table.refresh_row(5) is False
        table.sort("score", reverse=True)
        assert table.row_keys[:2] == [2, 4]
        assert str(table.get_cell(2, "score")) == "0.95"


async def test_rows_come_and_go_and_the_cursor_stays_within_them() -> None:
    app = TableApp({1: 0.1, 2: 0.2, 3: 0.3})
    async with app.run_test(size=(40, 12)) as pilot:
        await pilot.pause()
        table = app.query_one(Scores)
        await pilot.press("down", "down")
        assert table.cursor_key == 3
        table.remove_row(3)
        assert table.row_count == 2
        assert table.cursor_key == 2
        app.scores[9] = 0.9
        table.add_row(9)
        assert table.row_keys == [1, 2, 9]
        assert 9 in table
        assert 3 not in table
        await pilot.pause()
        assert shown_lines(table)[3].split()[:3] == ["9", "row", "9"]


async def test_enter_and_clicks_post_the_row_and_the_header_as_datatable_does() -> None:
    app = TableApp({1: 0.1, 2: 0.2, 3: 0.3})
    async with app.run_test(size=(40, 12)) as pilot:
        await pilot.pause()
        await pilot.press("down", "enter")
        await pilot.click(Scores, offset=(9, 0))  # the Name header (ID is 7 cells wide)
        await pilot.click(Scores, offset=(2, 3))  # the third row: the cursor goes there
        await pilot.pause()
        assert app.query_one(Scores).cursor_row == 2
        await pilot.click(Scores, offset=(2, 3))  # and a click on the cursor's row opens it
        await pilot.pause()
        assert app.messages == [("row", 2), ("header", "name"), ("row", 3)]


def test_a_value_wider_than_its_column_ends_in_an_ellipsis() -> None:
    assert fit("0.123456", 6) == "0.123…"
    assert fit("ab", 4) == "ab  "
    assert fit("ab", 0) == ""
