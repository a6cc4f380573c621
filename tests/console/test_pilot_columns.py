"""No cell is ever shown cut: columns scroll whole, and what is on screen is the database's value."""

from __future__ import annotations

import math
from typing import Any

import pytest
from rfconsole.console.runs_table import FIXED_COLUMNS
from rfconsole.db import Store, runs

pytestmark = pytest.mark.anyio


def shown_cells(table: Any) -> list[dict[str, str]]:
    """The text of every cell on screen, by column key, read from the rendered lines."""
    columns = table.columns
    widths = [column.render_width for column in columns]
    spans, x = [], 0
    for index in range(FIXED_COLUMNS):
        spans.append((columns[index].key, x, x + widths[index]))
        x += widths[index]
    for index in range(FIXED_COLUMNS + table.first_column,
                       FIXED_COLUMNS + table.first_column + table.shown_columns):
        spans.append((columns[index].key, x, x + widths[index]))
        x += widths[index]
    assert x <= table.scrollable_content_region.width, "a column is cut at the right edge"
    rows = []
    for y in range(1, table.row_count + 1):  # line 0 is the header
        text = table.render_line(y).text
        rows.append({key: text[start + 1:end - 1].strip() for key, start, end in spans})
    return rows


def check_against_database(store: Store, rows: list[dict[str, str]]) -> int:
    checked = 0
    with store.read() as session:
        for cells in rows:
            run = runs.get_run(session, int(cells["id"].lstrip("● ")))
            assert cells["name"] == run.run_name
            for key, text in cells.items():
                if key.startswith(("m:", "c:")) or key == "parent":
                    value = (run.metrics.get(key[2:]) if key.startswith("m:")
                             else run.flattened_config.get(key[2:]) if key.startswith("c:")
                             else run.parent_run_id)
                    if not isinstance(value, (int, float)) or isinstance(value, bool):
                        continue
                    assert not text.endswith("…"), f"{key} of run {run.run_id} shortened: {text}"
                    assert math.isclose(float(text), value, rel_tol=5e-4), (key, text, value)
                    checked += 1
                elif key in ("epoch", "chunk"):
                    done, total = (run.current_epoch, run.num_epochs) if key == "epoch" else (
                        run.current_chunk, run.num_chunks)
                    assert text == f"{done}/{total}"
    return checked


@pytest.mark.slow
@pytest.mark.parametrize("size", [(60, 24), (80, 24), (120, 35)])
async def test_every_number_on_screen_is_the_database_value(
        store: Store, seeded: Any, kit: Any, size: tuple[int, int]) -> None:
    app = kit.console_app(store, refresh=60)
    async with app.run_test(size=size) as pilot:
        await kit.wait_for_data(pilot)
        table = app.runs_screen.table
        total = len(table.columns) - FIXED_COLUMNS
        seen: set[str] = set()
        checked = 0
        while True:
            await pilot.pause()  # the scroll has been laid out
            rows = shown_cells(table)
            seen.update(rows[0])
            checked += check_against_database(store, rows)
            if table.first_column + table.shown_columns >= total:
                break
            before = table.first_column
            await pilot.press("right")
            await kit.wait_until(pilot, lambda before=before: table.first_column == before + 1)
        assert seen == {column.key for column in table.columns}
        assert checked > 20


async def test_home_and_end_move_the_cursor_to_the_first_and_last_run(
        store: Store, seeded: Any, kit: Any) -> None:
    app = kit.console_app(store, refresh=60)
    async with app.run_test(size=(80, 24)) as pilot:
        await kit.wait_for_data(pilot)
        table = app.runs_screen.table
        await pilot.press("end")
        assert table.cursor_row == table.row_count - 1
        assert table.scroll_x == 0
        await pilot.press("home")
        assert table.cursor_row == 0
