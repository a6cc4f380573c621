"""IC ops from the dashboard, end to end: the page asks the dispatcher, a real Controller running
the demo's numpy trainer applies them, and the page shows each op PENDING, then its outcome."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect
from rfconsole.db import runs

from .conftest import run_of, seed, wait_for

expect.set_options(timeout=20_000)

pytestmark = pytest.mark.slow


def row_of(page, run_id):
    return page.get_by_role("table", name="Runs").get_by_role("row").filter(
        has=page.get_by_role("cell", name=str(run_id), exact=True)).first


def ops_row(page, operation, run_id):
    return page.get_by_role("table", name="IC ops").get_by_role("row").filter(
        has=page.get_by_role("cell", name=operation, exact=True)).filter(
        has=page.get_by_role("cell", name=str(run_id), exact=True)).first


def select(page, run_id):
    row_of(page, run_id).click()  # one click, even while a live controller redraws the row
    expect(page.get_by_role("heading", name=re.compile(f"^Run {run_id} "))).to_be_visible()
    return page.get_by_role("complementary", name="Run detail")


def ongoing(store, run_id):
    return run_of(store, run_id).status == "ONGOING"


def test_stop_resume_delete_end_to_end(serve, watched, demo):
    controller = demo(runs_count=3)
    served = serve()
    store = served.store
    wait_for(lambda: all(ongoing(store, i) for i in (1, 2, 3)), timeout=30)
    page = watched.open(served)
    expect(row_of(page, 1)).to_contain_text("ONGOING")

    detail = select(page, 1)
    detail.get_by_role("button", name="Stop", exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text("Stop of run 1 requested")
    expect(ops_row(page, "STOP", 1)).to_be_visible()
    expect(ops_row(page, "STOP", 1)).to_contain_text("COMPLETED")
    expect(row_of(page, 1)).to_contain_text("STOPPED")
    assert run_of(store, 1).status == "STOPPED"
    watched.shot("ops-pane")

    detail.get_by_role("button", name="Resume", exact=True).click()
    expect(ops_row(page, "RESUME", 1)).to_contain_text("COMPLETED")
    expect(row_of(page, 1)).to_contain_text("ONGOING")

    detail = select(page, 2)
    detail.get_by_role("button", name="Delete", exact=True).click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Delete run 2")
    watched.shot("confirm-delete")
    dialog.get_by_role("button", name="Delete", exact=True).click()
    expect(ops_row(page, "DELETE", 2)).to_contain_text("COMPLETED")
    wait_for(lambda: run_of(store, 2).status == "KILLED", page=page)
    expect(row_of(page, 2)).to_contain_text("KILLED")
    assert controller.end_requested is False


def test_a_cancelled_delete_asks_nothing(serve, watched, tmp_path):
    served = serve()
    ids = seed(served.store, tmp_path)
    page = watched.open(served)
    detail = select(page, ids[0])
    detail.get_by_role("button", name="Delete", exact=True).click()
    page.get_by_role("dialog").get_by_role("button", name="Cancel").click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    assert not [r for r in watched.requests if r.url.endswith("/delete-run")]


def test_refusal_shows_the_dispatchers_sentence(serve, watched, tmp_path):
    served = serve()
    ids = seed(served.store, tmp_path)
    page = watched.open(served)
    completed = ids[2]
    select(page, completed)
    page.keyboard.press("s")  # the console's key, on the run under the cursor
    sentence = f"Run {completed} is COMPLETED; stop applies only to NEW or ONGOING runs."
    expect(page.get_by_role("alert")).to_have_text(sentence)
    expect(ops_row(page, "STOP", completed)).to_contain_text("REFUSED")
    expect(ops_row(page, "STOP", completed)).to_contain_text(sentence)
    # The browser itself logs the 409 answer; nothing else may be logged.
    watched.errors[:] = [e for e in watched.errors if "status of 409" not in e]
    watched.shot("refusal")


def test_clone_with_an_edited_config(serve, watched, demo):
    demo(runs_count=2)
    served = serve()
    store = served.store
    wait_for(lambda: run_of(store, 1).status == "ONGOING" and run_of(store, 1).num_chunks_visited >= 1,
             timeout=30)
    page = watched.open(served)
    detail = select(page, 1)
    detail.get_by_role("button", name="Clone", exact=True).click()
    dialog = page.get_by_role("dialog")
    config = dialog.get_by_label("Config")
    parent = run_of(store, 1).config_leaf
    assert json.loads(config.input_value()) == parent

    config.fill("{ not json")
    expect(dialog.get_by_role("status")).to_contain_text("not valid JSON")
    expect(dialog.get_by_role("button", name="Create clone")).to_be_disabled()
    edited = json.loads(json.dumps(parent))
    edited["optimizer"]["learning_rate"] = -1
    config.fill(json.dumps(edited, indent=2))
    expect(dialog.get_by_role("status")).to_contain_text("optimizer.learning_rate must be > 0")
    expect(dialog.get_by_role("button", name="Create clone")).to_be_disabled()

    edited["optimizer"]["learning_rate"] = 0.2
    del edited["seed"]
    config.fill(json.dumps(edited, indent=2))
    expect(dialog.get_by_role("status")).to_have_text("")
    expect(dialog.locator("#clone-diff")).to_contain_text(
        f"optimizer.learning_rate: {parent['optimizer']['learning_rate']} → 0.2")
    expect(dialog.locator("#clone-diff")).to_contain_text("seed")
    dialog.get_by_label("Warm start").check()
    watched.shot("clone")
    dialog.get_by_role("button", name="Create clone").click()
    expect(page.get_by_role("alert")).to_contain_text("new run 3")
    expect(ops_row(page, "CLONE_MODIFY", 1)).to_contain_text("COMPLETED")
    expect(row_of(page, 3)).to_be_visible()
    clone = run_of(store, 3)
    assert clone.parent_run_id == 1
    assert clone.warm_start is True
    assert clone.config_leaf["optimizer"]["learning_rate"] == 0.2
    assert clone.config_leaf["model"] == parent["model"]
    # The request carried the whole edited config.
    sent = [r for r in watched.requests if r.url.endswith("/clone-modify-run")]
    assert sent
    assert sent[-1].post_data_json == {"run_id": 1, "config": edited, "warm_start": True}
    assert sent[-1].headers["content-type"] == "application/json"


def test_bulk_stop_confirms_once_and_reports_each_run(serve, watched, demo):
    demo(runs_count=3)
    served = serve()
    store = served.store
    wait_for(lambda: all(ongoing(store, i) for i in (1, 2, 3)), timeout=30)
    page = watched.open(served)
    expect(row_of(page, 3)).to_be_visible()
    page.get_by_role("checkbox", name="Mark run 1").check()
    page.get_by_role("checkbox", name="Mark run 3").check()
    expect(page.get_by_text("2 marked")).to_be_visible()
    row_of(page, 2).click()
    page.keyboard.press("Escape")  # close the detail; the marks still decide the targets
    page.keyboard.press("s")
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Stop 2 runs (1, 3)?")
    dialog.get_by_role("button", name="Stop", exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text("Stop: 2 of 2 requested.")
    wait_for(lambda: run_of(store, 1).status == "STOPPED" and run_of(store, 3).status == "STOPPED", page=page)
    with store.read() as session:
        assert runs.get_run(session, 2).status == "ONGOING"


def test_bulk_clone_applies_the_same_edit_to_each_marked_run(serve, watched, tmp_path):
    served = serve()
    ids = seed(served.store, tmp_path, count=3, statuses=("ONGOING",))
    page = watched.open(served)
    expect(row_of(page, ids[2])).to_be_visible()
    page.locator("#table-scroll").click()
    page.keyboard.press("a")  # marks every run shown
    expect(page.get_by_text("3 marked")).to_be_visible()
    page.get_by_role("checkbox", name=f"Mark run {ids[1]}").uncheck()
    page.get_by_role("button", name="Clone marked").click()
    dialog = page.get_by_role("dialog")
    config = dialog.get_by_label("Config")
    edited = json.loads(config.input_value())
    assert edited == run_of(served.store, ids[0]).config_leaf
    edited["learning_rate"] = 0.7
    config.fill(json.dumps(edited))
    dialog.get_by_role("button", name="Create clone").click()
    expect(page.get_by_role("alert")).to_contain_text("Clone: 2 of 2 requested.")
    sent = {r.post_data_json["run_id"]: r.post_data_json["config"]
            for r in watched.requests if r.url.endswith("/clone-modify-run")}
    assert set(sent) == {ids[0], ids[2]}
    for run_id, config_sent in sent.items():
        expected = dict(run_of(served.store, run_id).config_leaf, learning_rate=0.7)
        assert config_sent == expected  # each run's own config, with the same edit
    expect(page.get_by_text("5 runs")).to_be_visible()
