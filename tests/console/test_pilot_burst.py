"""Keys typed in one burst go to the widget the first key opened, never to the runs table."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from rfconsole.console.clone_screen import CloneScreen
from rfconsole.console.dialogs import HelpScreen, SortScreen
from rfconsole.db import Store, ic_ops
from textual import events
from textual.command import CommandPalette
from textual.widgets import Input, TextArea

pytestmark = pytest.mark.anyio


def burst(app: Any, *keys: str) -> None:
    """Hand every key to the driver at once, as a paste or a slow SSH link does."""
    for key in keys:
        character = key if len(key) == 1 else None
        name = {"/": "slash", "?": "question_mark", ".": "full_stop", " ": "space"}.get(key, key)
        event = events.Key(name, character)
        event.set_sender(app)
        app.post_message(event)


def op_rows(store: Store) -> list[Any]:
    with store.read() as session:
        return [op for op in ic_ops.list_ops(session) if op.status == "PENDING"]


async def handled(nodes: list[Any]) -> None:
    """Return once each of `nodes` has handled every message queued to it before this call."""
    left = 0
    done = asyncio.Event()

    def one_more() -> None:
        nonlocal left
        left -= 1
        if left == 0:
            done.set()

    left = sum(1 for node in nodes if node.call_later(one_more))
    if left:
        await asyncio.wait_for(done.wait(), timeout=10)


async def settle(pilot: Any, kit: Any, condition: Any, what: str) -> None:
    """Wait for `condition` and for every key of the burst to have been dealt with."""
    app = pilot.app
    await kit.wait_until(pilot, lambda: condition() and app.keys_waiting == 0, what=what)
    # what the last key's binding queued (a screen opening, a message) has been handled too
    await handled([app, *(node for screen in app.screen_stack
                          for node in screen.walk_children(with_self=True))])


@pytest.mark.slow
async def test_filter_takes_the_whole_burst(store: Store, seeded: Any, kit: Any) -> None:
    app = kit.console_app(store)
    async with app.run_test(size=(120, 36)) as pilot:
        await kit.wait_for_data(pilot)
        for text in ("/stopped", "/run_3", "/status:ONGOING"):
            burst(app, *text)
            field = app.screen.query_one("#filter", Input)
            await settle(pilot, kit, lambda field=field, text=text: field.value == text[1:], text)
            assert isinstance(app.screen, type(app.runs_screen))
            assert op_rows(store) == []
            burst(app, "escape")
            await settle(pilot, kit, lambda field=field: not field.display, "the filter closed")
        assert not [n for n in kit.notifications(app) if "queued" in n or "applies only" in n]


async def test_enter_then_more_keys_apply_the_filter_first(store: Store, seeded: Any, kit: Any) -> None:
    app = kit.console_app(store)
    async with app.run_test(size=(120, 36)) as pilot:
        await kit.wait_for_data(pilot)
        burst(app, *"/STOPPED", "enter", "space")
        table = app.runs_screen.table
        await settle(pilot, kit, lambda: table.marked, "the mark")
        assert table.row_count == 1
        assert table.marked == {seeded.run_ids[2]}
        assert op_rows(store) == []


@pytest.mark.parametrize(("opener", "screen_type"), [
    ("c", CloneScreen), ("o", SortScreen), ("?", HelpScreen), ("ctrl+p", CommandPalette)])
async def test_a_dialog_takes_the_keys_after_the_one_that_opened_it(
        store: Store, seeded: Any, kit: Any, opener: str, screen_type: type) -> None:
    app = kit.console_app(store)
    async with app.run_test(size=(120, 36)) as pilot:
        await kit.wait_for_data(pilot)
        burst(app, opener, *"srd")
        await settle(pilot, kit, lambda: isinstance(app.screen, screen_type), "the dialog")
        assert op_rows(store) == []
        if screen_type is CloneScreen:
            assert app.screen.query_one(TextArea).text.startswith("srd{")
        if screen_type is CommandPalette:
            assert app.screen.query_one(Input).value == "srd"


@pytest.mark.parametrize("times", [2, pytest.param(10, marks=pytest.mark.slow)])
async def test_the_clone_editor_takes_a_burst_exactly(store: Store, seeded: Any, kit: Any,
                                                      times: int) -> None:
    """Again and again: open the editor, go to the lr line's end, replace `0.1,` by `0.05,`."""
    app = kit.console_app(store)
    async with app.run_test(size=(120, 36)) as pilot:
        await kit.wait_for_data(pilot)
        for _ in range(times):
            burst(app, "c", "down", "down", "end", "left", "backspace", "backspace", "backspace",
                  *"0.05")
            await settle(pilot, kit, lambda: isinstance(app.screen, CloneScreen), "the editor")
            editor = app.screen.query_one(TextArea)
            await settle(pilot, kit, lambda editor=editor: '"lr": 0.05,' in editor.text, "the edit")
            assert editor.text.splitlines()[2] == '  "lr": 0.05,'
            burst(app, "escape")
            await settle(pilot, kit, lambda: not isinstance(app.screen, CloneScreen), "closed")
        assert op_rows(store) == []
