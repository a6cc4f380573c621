"""Screenshots of the console on a seeded experiment (fixed values and times).

Update with `pytest tests/console/test_snapshots.py --snapshot-update`, after
looking at the differences in the report.
"""

from __future__ import annotations

from typing import Any

import pytest
from rfconsole.console.clone_screen import CloneScreen
from rfconsole.console.detail_screen import RunDetailScreen
from rfconsole.console.dialogs import ConfirmScreen
from rfconsole.console.logs_screen import LogsScreen
from rfconsole.db import Store
from textual.widgets import TextArea


def settled(kit: Any, *steps: Any) -> Any:
    """A run_before that waits for the data, runs each step, and freezes cursors."""

    async def run_before(pilot: Any) -> None:
        await kit.wait_for_data(pilot)
        for step in steps:
            await step(pilot)
        kit.stop_blinking(pilot.app)
        await pilot.pause()

    return run_before


def press_until(kit: Any, keys: list[str], condition: Any) -> Any:
    async def step(pilot: Any) -> None:
        await pilot.press(*keys)
        await kit.wait_until(pilot, lambda: condition(pilot.app))
        await pilot.pause()

    return step


@pytest.mark.slow
def test_runs_table_large_terminal(snap_compare: Any, store: Store, seeded: Any, kit: Any) -> None:
    app = kit.console_app(store, refresh=60)

    async def mark_and_sort(pilot: Any) -> None:
        await pilot.press("down", "space")  # run 2 marked, cursor on run 3
        pilot.app.runs_screen.table.sort_by("m:val_loss")
        await pilot.pause()

    assert snap_compare(app, terminal_size=(160, 34), run_before=settled(kit, mark_and_sort))


def test_runs_table_80x24(snap_compare: Any, store: Store, seeded: Any, kit: Any) -> None:
    app = kit.console_app(store, refresh=60)
    assert snap_compare(app, terminal_size=(80, 24), run_before=settled(kit))


@pytest.mark.slow
def test_run_detail(snap_compare: Any, store: Store, seeded: Any, kit: Any) -> None:
    app = kit.console_app(store, refresh=60)
    open_detail = press_until(kit, ["down", "down", "enter"],
                              lambda app: isinstance(app.screen, RunDetailScreen)
                              and app.screen.detail is not None)
    assert snap_compare(app, terminal_size=(120, 36), run_before=settled(kit, open_detail))


@pytest.mark.slow
def test_clone_dialog_with_a_schema_error(snap_compare: Any, store: Store, seeded: Any,
                                          kit: Any) -> None:
    app = kit.console_app(store, refresh=60)
    open_clone = press_until(kit, ["down", "down", "c"],
                             lambda app: isinstance(app.screen, CloneScreen))

    async def break_config(pilot: Any) -> None:
        editor = pilot.app.screen.query_one("#clone-config", TextArea)
        editor.text = editor.text.replace('"lr": 0.01', '"lr": 0.02').replace(
            '"batch_size": 64', '"batch_size": -4')
        editor.move_cursor((0, 0))
        await pilot.pause()

    assert snap_compare(app, terminal_size=(120, 30),
                        run_before=settled(kit, open_clone, break_config))


@pytest.mark.slow
def test_delete_confirmation(snap_compare: Any, store: Store, seeded: Any, kit: Any) -> None:
    app = kit.console_app(store, refresh=60)
    ask = press_until(kit, ["down", "d"], lambda app: isinstance(app.screen, ConfirmScreen))
    assert snap_compare(app, terminal_size=(100, 28), run_before=settled(kit, ask))


@pytest.mark.slow
def test_logs_view(snap_compare: Any, store: Store, seeded: Any, kit: Any) -> None:
    app = kit.console_app(store, refresh=60)
    logs = press_until(kit, ["l"], lambda app: isinstance(app.screen, LogsScreen)
                       and app.screen.refresh_count >= 1)
    search = press_until(kit, ["slash", *"run 3", "enter"], lambda app: app.screen.search)
    assert snap_compare(app, terminal_size=(110, 24), run_before=settled(kit, logs, search))


def test_empty_state(snap_compare: Any, store: Store, kit: Any) -> None:
    app = kit.console_app(store, refresh=60)
    assert snap_compare(app, terminal_size=(80, 24), run_before=settled(kit))


@pytest.mark.slow
def test_help(snap_compare: Any, store: Store, seeded: Any, kit: Any) -> None:
    app = kit.console_app(store, refresh=60)
    show = press_until(kit, ["question_mark"], lambda app: type(app.screen).__name__ == "HelpScreen")
    assert snap_compare(app, terminal_size=(100, 40), run_before=settled(kit, show))
