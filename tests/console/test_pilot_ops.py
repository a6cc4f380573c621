"""Each key's IC op queues the right op row; refusals, bulk ops and --readonly."""

from __future__ import annotations

from typing import Any

import pytest
from rfconsole.console.clone_screen import CloneScreen
from rfconsole.console.dialogs import ConfirmScreen
from rfconsole.db import Store, ic_ops, runs
from textual.command import CommandList, CommandPalette
from textual.widgets import Switch, TextArea

pytestmark = pytest.mark.anyio



def ops_of(store: Store, run_id: int | None = None) -> list[Any]:
    with store.read() as session:
        return ic_ops.list_ops(session, run_id=run_id)


def pending_ops(store: Store) -> list[tuple[str, int]]:
    with store.read() as session:
        return [(op.operation, op.run_id) for op in ic_ops.list_ops(session, status="PENDING")]


async def goto_run(pilot: Any, run_id: int) -> None:
    table = pilot.app.runs_screen.table
    table.move_cursor(row=table.get_row_index(run_id))
    await pilot.pause()


async def test_stop_and_resume_keys_queue_ops(store: Store, seeded: Any, kit: Any) -> None:
    app = kit.console_app(store)
    async with app.run_test(size=(120, 36)) as pilot:
        await kit.wait_for_data(pilot)
        await goto_run(pilot, seeded.run_ids[0])  # ONGOING
        await pilot.press("s")
        await kit.wait_until(pilot, lambda: pending_ops(store), what="the stop op")
        await goto_run(pilot, seeded.run_ids[2])  # STOPPED
        await pilot.press("r")
        await kit.wait_until(pilot, lambda: len(pending_ops(store)) == 2, what="the resume op")
        assert sorted(pending_ops(store)) == [("RESUME", seeded.run_ids[2]),
                                              ("STOP", seeded.run_ids[0])]
        assert {op.origin for op in ops_of(store) if op.status == "PENDING"} == {kit.ORIGIN}
        # the ops pane shows them PENDING after the next refresh
        ops_table = app.screen.query_one("#ops")
        await kit.wait_until(pilot, lambda: ops_table.row_count == 4, what="the ops pane")
        assert str(ops_table.get_row_at(0)[3]) == "PENDING"


async def test_a_refused_op_shows_the_refusal_sentence(store: Store, seeded: Any, kit: Any) -> None:
    app = kit.console_app(store)
    async with app.run_test(size=(120, 36)) as pilot:
        await kit.wait_for_data(pilot)
        await goto_run(pilot, seeded.run_ids[1])  # COMPLETED: stop is not allowed
        await pilot.press("s")
        expected = f"Run {seeded.run_ids[1]} is COMPLETED; stop applies only to NEW or ONGOING runs."
        await kit.wait_until(pilot, lambda: expected in kit.notifications(app), what="the refusal")
        assert pending_ops(store) == []


@pytest.mark.slow
async def test_delete_asks_first_and_names_the_run(store: Store, seeded: Any, kit: Any) -> None:
    app = kit.console_app(store)
    run_id = seeded.run_ids[3]
    async with app.run_test(size=(120, 36)) as pilot:
        await kit.wait_for_data(pilot)
        await goto_run(pilot, run_id)
        await pilot.press("d")
        await kit.wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the dialog")
        assert f"run_{run_id} (id {run_id}, NEW)" in app.screen.question
        await pilot.press("n")
        await kit.wait_until(pilot, lambda: not isinstance(app.screen, ConfirmScreen), what="no")
        assert pending_ops(store) == []
        await pilot.press("d")
        await kit.wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the dialog")
        await pilot.press("y")
        await kit.wait_until(pilot, lambda: pending_ops(store) == [("DELETE", run_id)], what="delete")
        table = app.runs_screen.table
        await kit.wait_until(pilot, lambda: str(table.get_cell(run_id, "status")) == "KILLED",
                         what="KILLED in the table")


@pytest.mark.slow
async def test_clone_modify_submits_the_whole_edited_config_and_shows_the_new_run(
        store: Store, seeded: Any, kit: Any) -> None:
    app = kit.console_app(store)
    parent = seeded.run_ids[2]  # STOPPED, has a checkpoint
    async with app.run_test(size=(120, 36)) as pilot:
        await kit.wait_for_data(pilot)
        await goto_run(pilot, parent)
        await pilot.press("c")
        await kit.wait_until(pilot, lambda: isinstance(app.screen, CloneScreen), what="the editor")
        editor = app.screen.query_one("#clone-config", TextArea)
        # Change one key and delete another: the clone gets exactly the text's config.
        editor.text = editor.text.replace('"lr": 0.01', '"lr": 0.02').replace('  "optimizer": "adam",\n', "")
        await pilot.pause()
        diff = str(app.screen.query_one("#clone-diff").render())
        assert "lr: 0.01 → 0.02" in diff
        assert "- optimizer: adam" in diff
        app.screen.query_one("#warm-start", Switch).value = True
        await pilot.press("ctrl+s")
        await kit.wait_until(pilot, lambda: not isinstance(app.screen, CloneScreen), what="submit")
        [op] = [op for op in ops_of(store) if op.status == "PENDING"]
        edited = {"batch_size": 64, "lr": 0.02, "width": 64}
        assert (op.operation, op.run_id, op.config_leaf, op.warm_start) == (
            "CLONE_MODIFY", parent, edited, True)
        with store.read() as session:
            clone = runs.get_run(session, op.new_run_id)
        assert clone.config_leaf == edited
        assert clone.parent_run_id == parent
        assert any(f"queued as new run {op.new_run_id}" in text for text in kit.notifications(app))


@pytest.mark.slow
async def test_clone_modify_shows_schema_errors_before_submit(store: Store, seeded: Any, kit: Any) -> None:
    app = kit.console_app(store)
    async with app.run_test(size=(120, 36)) as pilot:
        await kit.wait_for_data(pilot)
        await pilot.press("c")
        await kit.wait_until(pilot, lambda: isinstance(app.screen, CloneScreen), what="the editor")
        editor = app.screen.query_one("#clone-config", TextArea)
        editor.text = editor.text.replace('"batch_size": 32', '"batch_size": 0')
        await pilot.pause()
        error = str(app.screen.query_one("#clone-error").render())
        assert "invalid at batch_size" in error
        assert app.screen.query_one("#clone-submit").disabled
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, CloneScreen)
        assert not app.screen.busy  # the submit started nothing
        assert pending_ops(store) == []


@pytest.mark.slow
async def test_warm_clone_of_a_run_without_checkpoint_is_refused_inline(store: Store, seeded: Any, kit: Any) -> None:
    app = kit.console_app(store)
    async with app.run_test(size=(120, 36)) as pilot:
        await kit.wait_for_data(pilot)
        await goto_run(pilot, seeded.run_ids[3])  # NEW, no checkpoint
        await pilot.press("c")
        await kit.wait_until(pilot, lambda: isinstance(app.screen, CloneScreen), what="the editor")
        app.screen.query_one("#warm-start", Switch).value = True
        await pilot.press("ctrl+s")
        box = app.screen.query_one("#clone-error")
        await kit.wait_until(pilot, lambda: "no checkpoint yet" in str(box.render()), what="refusal")
        assert isinstance(app.screen, CloneScreen)
        assert pending_ops(store) == []


@pytest.mark.slow
async def test_bulk_stop_on_marked_runs_reports_each_run(store: Store, seeded: Any, kit: Any) -> None:
    app = kit.console_app(store)
    ongoing, completed, new = seeded.run_ids[0], seeded.run_ids[1], seeded.run_ids[3]
    async with app.run_test(size=(120, 36)) as pilot:
        await kit.wait_for_data(pilot)
        for run_id in (ongoing, completed, new):
            await goto_run(pilot, run_id)
            await pilot.press("space")
        assert app.runs_screen.table.marked == {ongoing, completed, new}
        await pilot.press("s")
        await kit.wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the dialog")
        assert app.screen.question.startswith("Stop 3 runs:")
        await pilot.press("y")
        await kit.wait_until(pilot, lambda: len(pending_ops(store)) == 2, what="two stops")
        assert sorted(pending_ops(store)) == [("STOP", ongoing), ("STOP", new)]
        await kit.wait_until(pilot, lambda: any("is COMPLETED" in t for t in kit.notifications(app)),
                         what="the refusal")
        text = next(t for t in kit.notifications(app) if "is COMPLETED" in t)
        assert f"Stop queued for 2 runs ({ongoing} and {new}; ops " in text
        assert app.runs_screen.table.marked == set()


async def test_readonly_hides_and_refuses_every_op(store: Store, seeded: Any, kit: Any) -> None:
    app = kit.console_app(store, readonly=True)
    async with app.run_test(size=(120, 36)) as pilot:
        await kit.wait_for_data(pilot)
        footer_keys = {binding.action for (_, binding, enabled, _) in
                       app.screen.active_bindings.values() if enabled}
        assert not footer_keys & {"stop", "resume", "delete", "clone"}
        for key in ("s", "r", "d", "c"):
            await pilot.press(key)
        await pilot.pause()
        assert not isinstance(app.screen, (ConfirmScreen, CloneScreen))
        # the command palette's callbacks refuse too
        app.queue_op("STOP", [app.runs_screen.table.runs[seeded.run_ids[0]]])
        await kit.wait_until(pilot, lambda: any("read-only" in text for text in kit.notifications(app)),
                             what="the read-only refusal")
        await app.workers.wait_for_complete()  # an op request would run in a worker
        assert pending_ops(store) == []


@pytest.mark.slow
async def test_ops_are_in_the_command_palette(store: Store, seeded: Any, kit: Any) -> None:
    app = kit.console_app(store)
    async with app.run_test(size=(120, 36)) as pilot:
        await kit.wait_for_data(pilot)
        await goto_run(pilot, seeded.run_ids[5])
        await pilot.press("ctrl+p")
        await kit.wait_until(pilot, lambda: isinstance(app.screen, CommandPalette), what="the palette")
        await pilot.press(*f"stop run {seeded.run_ids[5]}")
        commands = app.screen.query_one(CommandList)

        def stop_is_highlighted() -> bool:
            index = commands.highlighted
            return index is not None and str(commands.get_option_at_index(index).prompt).startswith(
                f"Stop run {seeded.run_ids[5]}")

        await kit.wait_until(pilot, stop_is_highlighted, what="the stop command in the palette")
        await pilot.press("enter")
        await kit.wait_until(pilot, lambda: pending_ops(store) == [("STOP", seeded.run_ids[5])],
                             what="the stop from the palette")


@pytest.mark.slow
async def test_clone_modify_on_marked_runs_applies_the_edit_to_each(store: Store, seeded: Any,
                                                                   kit: Any) -> None:
    app = kit.console_app(store)
    first, second = seeded.run_ids[0], seeded.run_ids[4]
    async with app.run_test(size=(120, 36)) as pilot:
        await kit.wait_for_data(pilot)
        for run_id in (first, second):
            await goto_run(pilot, run_id)
            await pilot.press("space")
        await goto_run(pilot, first)
        await pilot.press("c")
        await kit.wait_until(pilot, lambda: isinstance(app.screen, CloneScreen), what="editor")
        assert "2 marked runs" in str(app.screen.query_one("#clone-title").render())
        editor = app.screen.query_one("#clone-config", TextArea)
        editor.text = editor.text.replace('"width": 64', '"width": 256')
        await pilot.pause()
        await pilot.press("ctrl+s")
        await kit.wait_until(pilot, lambda: len(pending_ops(store)) == 2, what="two clones")
        clones = [op for op in ops_of(store) if op.status == "PENDING"]
        assert sorted(op.run_id for op in clones) == [first, second]
        with store.read() as session:
            configs = {op.run_id: runs.get_run(session, op.new_run_id).config_leaf
                       for op in clones}
        assert all(op.config_leaf == configs[op.run_id] for op in clones)
        assert configs[first] == {"lr": 0.1, "batch_size": 32, "width": 256, "optimizer": "adam"}
        assert configs[second]["lr"] == 0.001
        assert configs[second]["width"] == 256
        assert app.runs_screen.table.marked == set()


@pytest.mark.slow
async def test_escape_while_a_clone_is_being_saved_still_shows_its_outcome(
        store: Store, seeded: Any, kit: Any, monkeypatch: Any) -> None:
    import threading

    from rfconsole.console import clone_screen

    release = threading.Event()
    real_request_ops = clone_screen.request_ops

    def slow_request_ops(*args: Any, **kwargs: Any) -> Any:
        release.wait(10)  # a database busy with another writer
        return real_request_ops(*args, **kwargs)

    monkeypatch.setattr(clone_screen, "request_ops", slow_request_ops)
    app = kit.console_app(store)
    async with app.run_test(size=(120, 36)) as pilot:
        await kit.wait_for_data(pilot)
        await goto_run(pilot, seeded.run_ids[2])
        await pilot.press("c")
        await kit.wait_until(pilot, lambda: isinstance(app.screen, CloneScreen), what="the editor")
        await pilot.press("ctrl+s", "escape")
        await pilot.pause()
        assert isinstance(app.screen, CloneScreen)
        release.set()
        await kit.wait_until(pilot, lambda: not isinstance(app.screen, CloneScreen), what="submit")
        [op] = [op for op in ops_of(store) if op.status == "PENDING"]
        await kit.wait_until(pilot, lambda: any(
            f"queued as new run {op.new_run_id}" in text for text in kit.notifications(app)),
            what="the outcome")
