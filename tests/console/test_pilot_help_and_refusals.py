"""Help generated from the bindings of the screen it is opened on; ops refused up front."""

from __future__ import annotations

from typing import Any

import pytest
from rfconsole.console.clone_screen import CloneScreen
from rfconsole.console.detail_screen import RunDetailScreen
from rfconsole.console.dialogs import HelpScreen
from rfconsole.console.filters import FilterError, parse_filter
from rfconsole.console.runs_screen import RunsScreen
from rfconsole.console.runs_table import RunsTable
from rfconsole.db import Store, experiments, ic_ops
from textual.widgets import Static

pytestmark = pytest.mark.anyio


def help_text(app: Any) -> str:
    return str(app.screen.query_one("#help-text", Static).render())


def descriptions(*owners: type) -> set[str]:
    return {binding.tooltip or binding.description
            for owner in owners for binding in owner.BINDINGS
            if binding.description and binding.action != "read_only"}


@pytest.mark.slow
async def test_help_shows_the_keys_of_the_screen_it_was_opened_on(
        store: Store, seeded: Any, kit: Any) -> None:
    app = kit.console_app(store, refresh=60)
    async with app.run_test(size=(100, 60)) as pilot:
        await kit.wait_for_data(pilot)
        await pilot.press("question_mark")
        await kit.wait_until(pilot, lambda: isinstance(app.screen, HelpScreen))
        text = help_text(app)
        for what in descriptions(RunsScreen, RunsTable):
            assert what in text
        assert "then move down one run" in text  # what space does, as it does it
        await pilot.press("escape")
        await pilot.press("enter")
        await kit.wait_until(pilot, lambda: isinstance(app.screen, RunDetailScreen))
        await pilot.press("question_mark")
        await kit.wait_until(pilot, lambda: isinstance(app.screen, HelpScreen))
        text = help_text(app)
        for what in descriptions(RunDetailScreen):
            assert what in text
        assert "mark every run shown" not in text


@pytest.mark.slow
async def test_op_keys_in_readonly_say_so(store: Store, seeded: Any, kit: Any) -> None:
    app = kit.console_app(store, refresh=60, readonly=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await kit.wait_for_data(pilot)
        for key in ("s", "r", "d", "c"):
            count = len(kit.notifications(app))
            await pilot.press(key)
            await kit.wait_until(pilot, lambda count=count: len(kit.notifications(app)) > count)
            assert "read-only" in kit.notifications(app)[-1]
            assert isinstance(app.screen, RunsScreen)
        await pilot.press("question_mark")
        await kit.wait_until(pilot, lambda: isinstance(app.screen, HelpScreen))
        assert "IC ops are turned off" in help_text(app)
        assert "stop the marked runs" not in help_text(app)
    with store.read() as session:
        assert [op for op in ic_ops.list_ops(session) if op.status == "PENDING"] == []


async def test_ops_on_a_completed_experiment_are_refused_before_any_dialog(
        store: Store, seeded: Any, kit: Any) -> None:
    with store.write() as session:
        experiments.set_experiment_status(session, seeded.experiment_id, "completed")
    app = kit.console_app(store, refresh=60)
    async with app.run_test(size=(100, 30)) as pilot:
        await kit.wait_for_data(pilot)
        for key in ("c", "d", "s"):
            count = len(kit.notifications(app))
            await pilot.press(key)
            await kit.wait_until(pilot, lambda count=count: len(kit.notifications(app)) > count)
            assert "has completed" in kit.notifications(app)[-1]
            assert not isinstance(app.screen, CloneScreen)
            assert isinstance(app.screen, RunsScreen)


def test_status_colon_value_and_key_op_value_both_filter(store: Store, seeded: Any) -> None:
    from rfconsole.db import runs

    with store.read() as session:
        all_runs = runs.list_runs(session, experiment_id=seeded.experiment_id)
    for text in ("status:ONGOING", "status:ongoing", "status = ONGOING", "ONGOING"):
        assert sorted(run.run_id for run in all_runs if parse_filter(text)(run)) == [
            seeded.run_ids[0], seeded.run_ids[5]], text
    with pytest.raises(FilterError, match="not a run status"):
        parse_filter("status:RUNNING")


@pytest.mark.slow
async def test_a_filter_matching_nothing_says_so(store: Store, seeded: Any, kit: Any) -> None:
    app = kit.console_app(store, refresh=60)
    async with app.run_test(size=(120, 30)) as pilot:
        await kit.wait_for_data(pilot)
        await pilot.press("slash", *"width > 1000", "enter")
        status = app.screen.query_one("#status-line")
        await kit.wait_until(pilot, lambda: "no run matches" in str(status.render()))


async def test_the_header_says_whether_a_controller_is_alive(store: Store, seeded: Any,
                                                             kit: Any) -> None:
    with store.write() as session:
        ic_ops.request_stop(session, run_id=seeded.run_ids[0], origin=kit.ORIGIN)
    app = kit.console_app(store)
    async with app.run_test(size=(120, 36)) as pilot:
        await kit.wait_for_data(pilot)
        screen = app.runs_screen
        assert screen.sub_title.startswith("no controller")
        ops = screen.query_one("#ops")
        assert str(ops.get_row_at(0)[4]).startswith("no controller is running")
        title = str(screen.query_one("#ops-title").render())
        assert "no controller is running" in title
        assert "start your training script's controller" in title
        experiments.record_heartbeat(store, seeded.experiment_id)
        await kit.wait_until(pilot, lambda: screen.sub_title.startswith("controller alive"),
                             what="the heartbeat")
        await kit.wait_until(pilot, lambda: str(ops.get_row_at(0)[4]) == "waiting for the controller")
