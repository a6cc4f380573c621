"""The dashboard in headless chromium over a real dispatcher: runs, live update, detail, keys,
filter, logs, experiments, token, read-only. The page never logs an error nor asks another
origin (checked after every test by the `watched` fixture)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from rfconsole.db import experiments, ic_ops, runs

from .conftest import seed, wait_for

expect.set_options(timeout=15_000)  # a shared 2-core machine can be slow

pytestmark = pytest.mark.slow


def runs_table(page):
    return page.get_by_role("table", name="Runs")


def row_of(page, run_id):
    return runs_table(page).get_by_role("row").filter(
        has=page.get_by_role("cell", name=str(run_id), exact=True)).first


def test_runs_are_listed_with_their_columns(serve, watched, tmp_path):
    served = serve()
    ids = seed(served.store, tmp_path)
    page = watched.open(served)
    table = runs_table(page)
    expect(table.get_by_role("row")).to_have_count(len(ids) + 1)  # the header row too
    header = [text.strip(" ▲▼") for text in table.get_by_role("columnheader").all_inner_texts()]
    assert header[:6] == ["ID", "Mark", "Name", "Status", "Progress", "Epoch"]
    assert "val_loss" in header
    assert "learning_rate" in header
    assert "model.width" in header
    for run_id in ids:
        first_cell = row_of(page, run_id).get_by_role("cell").first
        expect(first_cell).to_have_text(str(run_id))
    expect(row_of(page, ids[3])).to_contain_text("STOPPED")
    expect(page.get_by_text("5 runs")).to_be_visible()
    watched.shot("runs")


def test_the_table_updates_in_place_and_keeps_scroll_selection_and_sort(serve, watched, tmp_path):
    served = serve()
    ids = seed(served.store, tmp_path, count=300)
    page = watched.open(served)
    page.locator("body[data-loaded=true]").wait_for()
    # Sort by name, descending; scroll down; open a run.
    sort = runs_table(page).get_by_role("button", name="Name")
    sort.click()
    sort.click()
    expect(runs_table(page).get_by_role("columnheader", name="Name")).to_have_attribute("aria-sort", "descending")
    page.locator("#table-scroll").evaluate("el => { el.scrollTop = 2000 }")
    expect(row_of(page, ids[0])).to_have_count(0)  # scrolled away from the top
    # Every header cell, the sticky first one too, hides the rows scrolled under it.
    backgrounds = runs_table(page).get_by_role("columnheader").evaluate_all(
        "cells => cells.map((c) => getComputedStyle(c).backgroundColor)")
    assert "rgba(0, 0, 0, 0)" not in backgrounds, backgrounds
    target = int(page.locator("#runs-body tr[data-id]").nth(14).get_attribute("data-id"))
    assert target in ids
    row_of(page, target).click()
    expect(page.get_by_role("heading", name=re.compile(f"^Run {target} "))).to_be_visible()
    scroll_before = page.locator("#table-scroll").evaluate("el => el.scrollTop")
    with served.store.write() as session:
        runs.update_run(session, target, status="COMPLETED", metrics={"val_loss": 0.0123})
    expect(row_of(page, target)).to_contain_text("COMPLETED")
    expect(row_of(page, target)).to_contain_text("0.0123")
    expect(row_of(page, target)).to_have_attribute("aria-selected", "true")
    assert page.locator("#table-scroll").evaluate("el => el.scrollTop") == scroll_before
    expect(runs_table(page).get_by_role("columnheader", name="Name")).to_have_attribute("aria-sort", "descending")
    # Virtualised: far fewer rows in the page than runs.
    assert runs_table(page).get_by_role("row").count() < 120
    # Nothing changed since: the polls are answered 304 (the server sends no body).
    polls = len(watched.statuses)
    wait_for(lambda: [s for u, s in watched.statuses[polls:] if "get-all-runs" in u and s == 304], page=page)


def test_a_click_survives_a_redraw_between_press_and_release(serve, watched, tmp_path):
    """A live table redraws often (polls, sparklines, scrolling): a redraw while the mouse button
    is down must not take the click away from the row under it, nor a change to that very row."""
    served = serve()
    ids = seed(served.store, tmp_path, count=40)
    page = watched.open(served)
    page.locator("body[data-loaded=true]").wait_for()
    scroll = page.locator("#table-scroll")
    for target, changed in ((ids[5], None), (ids[8], ids[8])):
        expect(row_of(page, target)).to_be_visible()
        box = row_of(page, target).bounding_box()
        assert box is not None
        page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] / 2)  # past the mark box
        page.mouse.down()
        if changed is not None:  # the row itself changes and is drawn again
            with served.store.write() as session:
                runs.update_run(session, changed, metrics={"val_loss": 0.0456})
            expect(row_of(page, changed)).to_contain_text("0.0456")
        # A redraw, as a scroll event makes one (the next animation frame).
        scroll.evaluate("el => el.dispatchEvent(new Event('scroll'))")
        page.evaluate("() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))")
        page.mouse.up()
        expect(page.get_by_role("heading", name=re.compile(f"^Run {target} "))).to_be_visible()
        expect(row_of(page, target)).to_have_attribute("aria-selected", "true")


def test_detail_shows_config_charts_lineage_and_ops(serve, watched, tmp_path):
    served = serve()
    ids = seed(served.store, tmp_path)
    with served.store.write() as session:
        clone_id = ic_ops.request_clone_modify(session, run_id=ids[0], config_patch={"learning_rate": 0.5},
                                               origin="test").new_run_id
    page = watched.open(served)
    row_of(page, ids[0]).click()
    detail = page.get_by_role("complementary", name="Run detail")
    for name in ("Stop", "Resume", "Clone", "Delete"):
        expect(detail.get_by_role("button", name=name, exact=True)).to_be_visible()
    expect(detail.locator("pre.config")).to_contain_text('"learning_rate": 0.1')
    expect(detail.get_by_role("img", name=re.compile("val_loss"))).to_be_visible()
    expect(detail.get_by_role("img", name=re.compile("val_accuracy"))).to_be_visible()
    expect(detail.get_by_role("checkbox", name="val_loss")).to_be_checked()
    expect(detail.get_by_role("button", name=f"run {clone_id}")).to_be_visible()  # its clone
    detail.get_by_role("checkbox", name="val_accuracy").uncheck()
    expect(detail.get_by_role("img", name=re.compile("val_accuracy"))).to_have_count(0)
    watched.shot("detail")
    detail.get_by_role("button", name=f"run {clone_id}").click()
    expect(page.get_by_role("heading", name=re.compile(f"^Run {clone_id} "))).to_be_visible()
    expect(detail).to_contain_text(f"run {ids[0]} (cold start)")


def test_keys_move_open_filter_and_help(serve, watched, tmp_path):
    served = serve()
    ids = seed(served.store, tmp_path, count=10)
    page = watched.open(served)
    expect(row_of(page, ids[-1])).to_be_visible()
    page.locator("body").press("j")
    page.keyboard.press("j")
    page.keyboard.press("k")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name=re.compile(f"^Run {ids[2]} "))).to_be_visible()
    page.keyboard.press(" ")  # marks the run under the cursor
    expect(page.get_by_role("checkbox", name=f"Mark run {ids[2]}")).to_be_checked()
    expect(page.get_by_role("button", name="Stop marked")).to_be_visible()
    page.keyboard.press("/")
    expect(page.get_by_role("searchbox", name="Filter")).to_be_focused()
    page.keyboard.type("STOPPED")
    expect(runs_table(page).get_by_role("row")).to_have_count(1 + len([i for i in range(10) if i % 5 == 3]))
    page.get_by_role("searchbox", name="Filter").fill("learning_rate > 0.03 and val_accuracy >= 0")
    expect(runs_table(page).get_by_role("row")).to_have_count(1 + 2)  # runs 1..3 minus the NEW one
    page.get_by_role("searchbox", name="Filter").fill("lr >")
    expect(page.locator("#filter-error")).to_contain_text("is not a condition")
    page.get_by_role("searchbox", name="Filter").fill("")
    page.locator("#table-scroll").click()
    page.keyboard.press("?")
    expect(page.get_by_role("dialog", name="Keys")).to_be_visible()


def test_logs_follow_new_lines_and_search(serve, watched, tmp_path):
    served = serve()
    seed(served.store, tmp_path)
    page = watched.open(served)
    page.get_by_role("tab", name="Logs").click()
    lines = page.get_by_label("Log lines")
    expect(lines).to_contain_text("experiment started")
    from rfconsole.db import experiment_log
    experiment_log.append(tmp_path / "experiments" / "exp-a", "exp-a", "controller", "INFO", "a brand new line")
    expect(lines).to_contain_text("a brand new line")
    page.get_by_role("searchbox", name="Search").fill("brand")
    expect(lines).to_have_text(re.compile(r"^[^\n]*a brand new line$"))
    page.get_by_role("searchbox", name="Search").fill("")
    page.get_by_role("radio", name="IC log").check()
    expect(lines).to_contain_text("stop of run 4 applied")
    expect(lines).not_to_contain_text("experiment started")
    watched.shot("logs")


def test_experiments_switch(serve, watched, tmp_path):
    served = serve()
    seed(served.store, tmp_path, name="exp-a", count=3)
    seed(served.store, tmp_path, name="exp-b", count=7)
    page = watched.open(served)
    expect(page.get_by_text("7 runs")).to_be_visible()  # the latest experiment first
    page.get_by_role("combobox", name="Experiment").select_option("exp-a")
    expect(page.get_by_text("3 runs")).to_be_visible()
    expect(runs_table(page).get_by_role("row")).to_have_count(4)
    # Back and forth at once: no run of the other experiment is left behind.
    page.get_by_role("combobox", name="Experiment").select_option("exp-b")
    page.get_by_role("combobox", name="Experiment").select_option("exp-a")
    page.get_by_role("combobox", name="Experiment").select_option("exp-b")
    expect(page.get_by_text("7 runs")).to_be_visible()
    page.wait_for_timeout(1500)
    expect(page.get_by_text("7 runs")).to_be_visible()
    expect(runs_table(page).get_by_role("row")).to_have_count(8)


def test_controller_liveness_is_shown_from_the_heartbeat(serve, watched, tmp_path):
    served = serve()
    ids = seed(served.store, tmp_path)
    with served.store.write() as session:
        ic_ops.request_stop(session, run_id=ids[0], origin="test")  # stays PENDING: no controller
        experiment_id = experiments.get_experiment_by_name(session, "exp-a").id
    page = watched.page
    watched.open(served)
    status = page.locator("#controller-status")
    expect(page.locator("#experiment-status")).to_have_text("running")
    expect(status).to_have_text("no controller", timeout=20_000)  # no heartbeat yet
    expect(page.get_by_role("table", name="IC ops")).to_contain_text("no controller is alive to apply it",
                                                                      timeout=20_000)
    experiments.record_heartbeat(served.store, experiment_id)  # what a running controller does
    expect(status).to_have_text("controller alive", timeout=20_000)


def test_token_is_asked_once_kept_in_the_tab_and_sent_as_bearer(serve, watched, tmp_path):
    served = serve(token="s3cret-token")
    ids = seed(served.store, tmp_path)
    page = watched.open(served)
    token = page.get_by_label("Token", exact=True)
    expect(token).to_be_visible()
    assert token.get_attribute("type") == "password"
    token.fill("wrong")
    token.press("Enter")
    expect(page.get_by_text("The token was not accepted; enter it again.")).to_be_visible()
    page.get_by_label("Token", exact=True).fill("s3cret-token")
    page.get_by_label("Token", exact=True).press("Enter")
    expect(row_of(page, ids[0])).to_be_visible()
    assert page.evaluate("() => sessionStorage.getItem('rfconsole.token')") == "s3cret-token"
    api = [r for r in watched.requests if "/dispatcher/get-all-runs" in r.url]
    assert api
    assert api[-1].headers.get("authorization") == "Bearer s3cret-token"
    assert all("s3cret" not in r.url for r in watched.requests)
    page.reload()  # the same tab: no second prompt
    expect(row_of(page, ids[0])).to_be_visible()
    expect(page.get_by_label("Token", exact=True)).to_be_hidden()
    # The browser itself logs the 401 answers to the wrong token; nothing else may be logged.
    watched.errors[:] = [e for e in watched.errors if "status of 401" not in e]


def test_readonly_shows_no_op_controls(serve, watched, tmp_path):
    served = serve(readonly=True)
    ids = seed(served.store, tmp_path)
    page = watched.open(served)
    row_of(page, ids[0]).click()
    expect(page.get_by_role("heading", name=re.compile(f"^Run {ids[0]} "))).to_be_visible()
    expect(page.get_by_text("read-only")).to_be_visible()
    for name in ("Stop", "Resume", "Clone", "Delete", "Stop marked"):
        expect(page.get_by_role("button", name=name, exact=True)).to_have_count(0)
    expect(page.get_by_role("columnheader", name="Mark")).to_have_count(0)
    before = [r for r in watched.requests if r.method == "POST"]
    for key in "srdc":
        page.keyboard.press(key)
    expect(page.get_by_role("dialog")).to_have_count(0)
    assert [r for r in watched.requests if r.method == "POST"] == before
    with served.store.read() as session:
        assert experiments.get_experiment_by_name(session, "exp-a") is not None
    watched.shot("readonly")


def test_an_empty_database_says_so(serve, watched):
    page = watched.open(serve())
    expect(page.get_by_text("No runs yet.")).to_be_visible()
    expect(page.get_by_text("0 runs")).to_be_visible()
    page.get_by_role("tab", name="Logs").click()
    expect(page.get_by_label("Log lines")).to_have_text("No log line yet.")


def test_markup_in_names_and_configs_is_shown_as_text(serve, watched, tmp_path):
    served = serve()
    with served.store.write() as session:
        experiment = experiments.create_experiment(session, name="<b>exp</b>",
                                                   experiment_path=str(tmp_path / "x"))
        hostile = '<img src=x onerror="document.body.dataset.owned=1">'
        run = runs.create_run(session, experiment_id=experiment.id, num_chunks=1, num_epochs=1,
                              run_name=hostile, config_leaf={"note": hostile})
    page = watched.open(served)
    expect(row_of(page, run.run_id)).to_contain_text(hostile)
    row_of(page, run.run_id).click()
    expect(page.get_by_role("complementary", name="Run detail").locator("pre.config")).to_contain_text(
        '"note": "<img src=x onerror=\\"document')
    assert page.evaluate("() => document.body.dataset.owned") is None
    assert page.locator("img").count() == 0
