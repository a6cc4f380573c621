"""The runs table keeps its view across refreshes; filter, sort, empty state, switcher, logs, detail."""

from __future__ import annotations

from typing import Any

import pytest
from rfconsole.console.clone_screen import CloneScreen
from rfconsole.console.detail_screen import RunDetailScreen
from rfconsole.console.experiments_screen import ExperimentsScreen
from rfconsole.console.logs_screen import LogsScreen
from rfconsole.db import Store, experiment_log, metrics, runs
from textual.widgets import RichLog

pytestmark = pytest.mark.anyio


def shown_ids(table: Any) -> list[int]:
    return list(table.row_keys)


def bump(store: Store, run_id: int, **fields: Any) -> None:
    with store.write() as session:
        runs.update_run(session, run_id, **fields)


async def test_cursor_sort_and_marks_survive_a_refresh_that_changes_a_row(
        store: Store, seeded: Any, kit: Any) -> None:
    app = kit.console_app(store)
    async with app.run_test(size=(120, 36)) as pilot:
        await kit.wait_for_data(pilot)
        table = app.runs_screen.table
        table.sort_by("progress", reverse=True)
        await pilot.pause()
        order = shown_ids(table)
        assert order[0] == seeded.run_ids[1]  # COMPLETED, 100 %
        cursor_run = seeded.run_ids[4]
        table.move_cursor(row=table.get_row_index(cursor_run))
        table.toggle_mark(seeded.run_ids[0])
        changed = seeded.run_ids[3]  # NEW, 0 % -> now the furthest along but one
        bump(store, changed, status="ONGOING", num_chunks_visited=11,
             metrics={"val_loss": 0.5, "val_accuracy": 0.9})
        await kit.wait_until(pilot, lambda: str(table.get_cell(changed, "status")) == "ONGOING",
                             what="the changed row")
        assert shown_ids(table)[:2] == [seeded.run_ids[1], changed]  # re-sorted
        assert table.cursor_run_id() == cursor_run
        assert table.marked == {seeded.run_ids[0]}
        assert str(table.get_cell(changed, "m:val_loss")) == "0.5"
        assert table.sort_column == "progress"
        assert table.sort_reverse


@pytest.mark.slow
async def test_an_unchanged_database_is_not_read_again(store: Store, seeded: Any,
                                                       kit: Any) -> None:
    app = kit.console_app(store)
    async with app.run_test(size=(120, 36)) as pilot:
        await kit.wait_for_data(pilot)
        table = app.runs_screen.table
        seen: list[Any] = []
        show = app.runs_screen.show_data
        app.runs_screen.show_data = lambda snapshot: (seen.append(snapshot), show(snapshot))
        before = {key: list(table.row_cells(key)) for key in table.row_keys}
        await kit.wait_for_refresh(pilot, app.runs_screen, count=2)
        assert seen
        assert not any(snapshot.runs_read for snapshot in seen)
        assert {key: list(table.row_cells(key)) for key in table.row_keys} == before
        bump(store, seeded.run_ids[0], num_chunks_visited=8)  # the revision moves: one run read
        await kit.wait_until(pilot, lambda: any(s.runs_read for s in seen), what="a read")
        [read] = [s for s in seen if s.runs_read]
        assert [run.run_id for run in read.changed_runs] == [seeded.run_ids[0]]


async def type_filter(pilot: Any, text: str) -> None:
    await pilot.press("slash")
    pilot.app.screen.query_one("#filter").value = text
    await pilot.press("enter")


@pytest.mark.slow
async def test_filter_keys_and_sort_picker(store: Store, seeded: Any, kit: Any) -> None:
    app = kit.console_app(store)
    async with app.run_test(size=(120, 36)) as pilot:
        await kit.wait_for_data(pilot)
        table = app.runs_screen.table
        await pilot.press("slash", *"lr >= 0.01", "enter")
        await pilot.pause()
        assert shown_ids(table) == seeded.run_ids[:3]  # the clone has lr 0.005
        await type_filter(pilot, "status = STOPPED")
        await pilot.pause()
        assert shown_ids(table) == [seeded.run_ids[2]]
        # a new run that matches appears; the filter stays
        bump(store, seeded.run_ids[0], status="STOPPED")
        await kit.wait_until(pilot, lambda: len(shown_ids(table)) == 2, what="the stopped run")
        await type_filter(pilot, "val_accuracy >= 0.8")
        await pilot.pause()
        assert shown_ids(table) == [seeded.run_ids[1]]
        await type_filter(pilot, "lr >")
        await pilot.pause()
        assert "not a condition" in str(app.screen.query_one("#filter-error").render())
        await pilot.press("escape", "escape")  # close the field, then clear the filter
        await pilot.pause()
        assert len(shown_ids(table)) == 7
        await pilot.press("o")
        await pilot.pause()
        await pilot.press("down", "enter")  # Name
        await pilot.pause()
        assert table.sort_column == "name"


async def test_empty_state_then_the_experiment_appears(store: Store, tmp_path: Any,
                                                       kit: Any) -> None:
    app = kit.console_app(store)
    async with app.run_test(size=(80, 24)) as pilot:
        await kit.wait_for_data(pilot)
        assert app.screen.query_one("#empty").display
        assert "rfconsole demo" in str(app.screen.query_one("#empty").render())
        kit.seed_experiment(store, tmp_path)
        await kit.wait_until(pilot, lambda: app.runs_screen.table.row_count == 7, what="runs")
        assert not app.screen.query_one("#empty").display


@pytest.mark.slow
async def test_experiment_switcher_lists_and_switches(store: Store, seeded: Any, tmp_path: Any,
                                                      kit: Any) -> None:
    other = kit.seed_experiment(store, tmp_path / "b", name="other-sweep")
    app = kit.console_app(store, experiment="cifar-sweep")
    async with app.run_test(size=(100, 30)) as pilot:
        await kit.wait_for_data(pilot)
        assert app.current_experiment.name == "cifar-sweep"
        await pilot.press("e")
        await kit.wait_until(pilot, lambda: isinstance(app.screen, ExperimentsScreen)
                             and app.screen.query_one("#experiments").row_count == 2,
                             what="the list")
        await pilot.press("up", "enter")  # newest first: other-sweep is on top
        await kit.wait_until(pilot, lambda: app.current_experiment is not None
                             and app.current_experiment.name == "other-sweep", what="switch")
        assert set(app.runs_screen.table.runs) == set(other.run_ids + [other.clone_id])


@pytest.mark.slow
async def test_logs_follow_search_and_ic_only(store: Store, seeded: Any, kit: Any) -> None:
    app = kit.console_app(store)
    async with app.run_test(size=(100, 30)) as pilot:
        await kit.wait_for_data(pilot)
        await pilot.press("l")
        await kit.wait_until(pilot, lambda: isinstance(app.screen, LogsScreen)
                             and app.screen.refresh_count >= 1, what="the log")
        screen = app.screen
        assert len(screen.lines) == 6
        experiment_log.append(seeded.experiment_path, "cifar-sweep", "interactive-control",
                              "INFO", "resume of run 3 applied (op 9)")
        await kit.wait_until(pilot, lambda: len(screen.lines) == 7, what="follow")
        await pilot.press("i")
        await kit.wait_until(pilot, lambda: len(screen.lines) == 3, what="IC only")
        assert all(" | interactive-control | " in line for line in screen.lines)
        await pilot.press("slash", *"resume", "enter")
        await pilot.pause()
        log = screen.query_one("#log", RichLog)
        assert len(log.lines) >= 1
        assert "resume of run 3" in "".join(
            segment.text for line in log.lines for segment in line)
        await pilot.press("f")  # stop following: new lines do not come in
        await kit.wait_until(pilot, lambda: not screen._loading, what="the read in flight")
        experiment_log.append(seeded.experiment_path, "cifar-sweep", "interactive-control",
                              "INFO", "stop of run 1 applied (op 10)")
        ticks = screen.tick_count
        await kit.wait_until(pilot, lambda: screen.tick_count >= ticks + 3, what="three turns")
        assert len(screen.lines) == 3


@pytest.mark.slow
async def test_run_detail_updates_live(store: Store, seeded: Any, kit: Any) -> None:
    app = kit.console_app(store)
    run_id = seeded.run_ids[0]
    async with app.run_test(size=(120, 36)) as pilot:
        await kit.wait_for_data(pilot)
        await pilot.press("enter")
        await kit.wait_until(pilot, lambda: isinstance(app.screen, RunDetailScreen)
                             and app.screen.detail is not None, what="the detail")
        screen = app.screen
        assert screen.detail.run.run_id == run_id
        points = len(screen.detail.history["val_loss"])
        with store.write() as session:
            metrics.append_metrics(session, run_id=run_id, values={"val_loss": 0.05},
                                   epoch=2, chunk=0, step=800)
            runs.update_run(session, run_id, num_chunks_visited=8, metrics={"val_loss": 0.05})
        await kit.wait_until(pilot, lambda: len(screen.detail.history["val_loss"]) == points + 1,
                             what="the new point")
        assert "val_loss 0.05" in str(screen.query_one("#detail-summary").render())
        detail_of_clone_parent = seeded.run_ids[2]
        await pilot.press("escape")
        table = app.runs_screen.table
        table.move_cursor(row=table.get_row_index(detail_of_clone_parent))
        await pilot.press("enter")
        await kit.wait_until(pilot, lambda: isinstance(app.screen, RunDetailScreen)
                             and app.screen.detail is not None, what="the parent's detail")
        lineage = str(app.screen.query_one("#detail-lineage").render())
        assert f"clone: run {seeded.clone_id}" in lineage
        assert "warm" in lineage


@pytest.mark.slow
async def test_refresh_pauses_while_a_dialog_is_open_and_with_p(store: Store, seeded: Any,
                                                               kit: Any) -> None:
    from rfconsole.console.dialogs import ConfirmScreen

    app = kit.console_app(store)
    run_id = seeded.run_ids[3]
    async with app.run_test(size=(120, 36)) as pilot:
        await kit.wait_for_data(pilot)
        table = app.runs_screen.table
        await pilot.press("d")
        await kit.wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="dialog")
        reads = app.runs_screen.refresh_count
        bump(store, run_id, status="ONGOING")
        ticks = app.runs_screen.tick_count
        await kit.wait_until(pilot, lambda: app.runs_screen.tick_count >= ticks + 3,
                             what="three turns of the refresh loop")
        assert app.runs_screen.refresh_count == reads
        assert str(table.get_cell(run_id, "status")) == "NEW"
        await pilot.press("n")
        await kit.wait_until(pilot, lambda: str(table.get_cell(run_id, "status")) == "ONGOING",
                             what="the refresh after the dialog")
        await pilot.press("p")
        reads = app.runs_screen.refresh_count
        bump(store, run_id, status="STOPPED")
        ticks = app.runs_screen.tick_count
        await kit.wait_until(pilot, lambda: app.runs_screen.tick_count >= ticks + 3,
                             what="three turns of the refresh loop")
        assert app.runs_screen.refresh_count == reads
        assert "paused" in str(app.runs_screen.query_one("#status-line").render())
        await pilot.press("p")
        await kit.wait_until(pilot, lambda: str(table.get_cell(run_id, "status")) == "STOPPED",
                             what="the refresh after resuming")


async def test_the_status_line_follows_the_table_and_the_refresh_settings_by_itself(
        store: Store, seeded: Any, kit: Any) -> None:
    app = kit.console_app(store, refresh=60)
    async with app.run_test(size=(160, 36)) as pilot:
        await kit.wait_for_data(pilot)
        status = app.runs_screen.query_one("#status-line")
        table = app.runs_screen.table

        def shown() -> str:
            return str(status.render())

        assert "2 ONGOING" in shown()
        assert "every 60s" in shown()
        # Changed straight on the table and the app, not through the screen's keys.
        table.toggle_mark(seeded.run_ids[0])
        table.toggle_mark(seeded.run_ids[1])
        await kit.wait_until(pilot, lambda: "2 marked" in shown(), what="the marks")
        app.refresh_interval = 4
        await kit.wait_until(pilot, lambda: "every 4s" in shown(), what="the interval")
        app.action_pause()
        await kit.wait_until(pilot, lambda: "paused" in shown(), what="the pause")
        table.clear_marks()
        await kit.wait_until(pilot, lambda: "marked" not in shown(), what="the marks cleared")
        bump(store, seeded.run_ids[3], status="ONGOING")  # paused: not shown yet
        app.action_pause()
        await kit.wait_until(pilot, lambda: "3 ONGOING" in shown(), what="the read after resuming")


async def test_a_failed_read_is_a_sentence_and_the_loop_goes_on(
        store: Store, seeded: Any, kit: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import rfconsole.console.runs_screen as runs_screen
    from sqlalchemy.exc import OperationalError

    real = runs_screen.read_runs_snapshot
    failures = iter([True])

    def flaky(*args: Any, **kwargs: Any) -> Any:
        if next(failures, False):
            raise OperationalError("SELECT", {}, Exception("database is locked"))
        return real(*args, **kwargs)

    monkeypatch.setattr(runs_screen, "read_runs_snapshot", flaky)
    app = kit.console_app(store)
    async with app.run_test(size=(120, 36)) as pilot:
        status = app.runs_screen.query_one("#status-line")
        await kit.wait_until(pilot, lambda: "retrying" in str(status.render()), what="the error")
        assert "Reading the database failed (OperationalError); retrying." in str(status.render())
        await kit.wait_until(pilot, lambda: app.runs_screen.table.row_count == 7, what="recovery")
        assert "retrying" not in str(status.render())


@pytest.mark.slow
async def test_rows_hidden_by_the_filter_come_back_up_to_date(store: Store, seeded: Any,
                                                              kit: Any) -> None:
    app = kit.console_app(store)
    hidden = seeded.run_ids[0]
    async with app.run_test(size=(120, 36)) as pilot:
        await kit.wait_for_data(pilot)
        table = app.runs_screen.table
        table.toggle_mark(hidden)
        await type_filter(pilot, "STOPPED")
        assert hidden not in shown_ids(table)
        bump(store, hidden, metrics={"val_loss": 0.25, "val_accuracy": 0.5})
        await kit.wait_until(pilot, lambda: table.runs[hidden].metrics.get("val_loss") == 0.25,
                             what="the hidden run's change")
        table.clear_marks()
        await pilot.press("escape")  # clears the filter
        await pilot.pause()
        assert hidden in shown_ids(table)
        assert str(table.get_cell(hidden, "m:val_loss")) == "0.25"
        assert str(table.get_cell(hidden, "id")).strip() == str(hidden)


@pytest.mark.slow
async def test_enter_on_an_op_opens_its_run(store: Store, seeded: Any, kit: Any) -> None:
    app = kit.console_app(store)
    async with app.run_test(size=(120, 36)) as pilot:
        await kit.wait_for_data(pilot)
        await pilot.press("tab", "enter")  # the newest op: the clone of run 3
        await kit.wait_until(pilot, lambda: isinstance(app.screen, RunDetailScreen), what="detail")
        assert app.screen.run_id == seeded.run_ids[2]


@pytest.mark.slow
async def test_brackets_in_names_and_configs_are_shown_as_typed(store: Store, tmp_path: Any,
                                                                 kit: Any) -> None:
    from rfconsole.db import experiments as experiments_db

    with store.write() as session:
        experiment = experiments_db.create_experiment(
            session, name="sweep [b]2[/b]", experiment_path=str(tmp_path / "x"))
        for layers in ([1, 2], [3]):
            runs.create_run(session, experiment_id=experiment.id, num_chunks=1, num_epochs=1,
                            config_leaf={"layers": layers, "tag": "[red]x"},
                            run_name=f"net[{layers[0]}]")
    app = kit.console_app(store)
    async with app.run_test(size=(120, 36)) as pilot:
        await kit.wait_for_data(pilot)
        assert "sweep [b]2[/b]" in str(app.runs_screen.query_one("#status-line").render())
        table = app.runs_screen.table
        assert str(table.get_cell(1, "c:layers")) == "[1, 2]"
        await pilot.press("enter")
        await kit.wait_until(pilot, lambda: isinstance(app.screen, RunDetailScreen)
                             and app.screen.detail is not None, what="the detail")
        assert "net[1]" in str(app.screen.query_one("#detail-summary").render())
        await pilot.press("escape", "c")
        await kit.wait_until(pilot, lambda: isinstance(app.screen, CloneScreen), what="the editor")
        editor = app.screen.query_one("#clone-config")
        editor.text = editor.text.replace('"[red]x"', '"[b]y"')
        await pilot.pause()
        assert "[b]y" in str(app.screen.query_one("#clone-diff").render())


@pytest.mark.slow
async def test_a_typed_bracket_does_not_break_the_status_lines(store: Store, seeded: Any,
                                                               kit: Any) -> None:
    app = kit.console_app(store)
    async with app.run_test(size=(120, 36)) as pilot:
        await kit.wait_for_data(pilot)
        await pilot.press("slash", *"[(", "enter")
        await pilot.pause()
        status = str(app.runs_screen.query_one("#status-line").render())
        assert "filter: [( (no run matches of 7; escape clears)" in status
        await pilot.press("escape", "l")
        await kit.wait_until(pilot, lambda: isinstance(app.screen, LogsScreen)
                             and app.screen.refresh_count >= 1, what="the log")
        await pilot.press("slash", *"[b", "enter")
        await pilot.pause()
        status = str(app.screen.query_one("#logs-status").render())
        assert "search: [b · 0 lines" in status


async def test_minus_refreshes_more_often_even_below_a_quarter_second(store: Store, seeded: Any,
                                                                     kit: Any) -> None:
    app = kit.console_app(store, refresh=0.2)
    async with app.run_test(size=(120, 36)) as pilot:
        await kit.wait_for_data(pilot)
        await pilot.press("minus")
        assert app.refresh_interval == 0.1
        await pilot.press("minus")
        assert app.refresh_interval == 0.1
        await pilot.press("plus")
        assert app.refresh_interval == 0.2


@pytest.mark.slow
async def test_a_filter_key_no_run_has_is_pointed_out(store: Store, seeded: Any, kit: Any) -> None:
    app = kit.console_app(store)
    async with app.run_test(size=(120, 36)) as pilot:
        await kit.wait_for_data(pilot)
        await type_filter(pilot, "learning_rate > 0.01 and lr >= 0.01")
        await pilot.pause()
        messages = kit.notifications(app)
        assert [m for m in messages if "key 'learning_rate'" in m]
        assert not [m for m in messages if "key 'lr'" in m]  # the seeded configs have lr
