"""--readonly refuses every op; a read-only or locked database is a 503 sentence; every answer is JSON;
a run whose stored JSON is unreadable still lists; refusals are logged once per run and reason."""

from __future__ import annotations

import json
import logging
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from rfconsole.db import Store, engine
from rfconsole.dispatcher import create_app
from rfconsole.dispatcher.refusals import RefusalThrottle
from sqlalchemy import event

from .conftest import Seeded, seed_experiment

OPS = [("stop-run", "ongoing"), ("resume-run", "stopped"), ("delete-run", "failed"),
       ("clone-modify-run", "ongoing")]


def _body(seeded: Seeded, which: str) -> dict:
    return {"run_id": getattr(seeded, which), "config": {"learning_rate": 0.5}}


@pytest.mark.parametrize("readonly", [True, "1"])
def test_readonly_refuses_every_op_route(store: Store, seeded: Seeded, readonly: object) -> None:
    client = create_app(store, config={"READONLY": readonly}).test_client()
    for route, which in OPS:
        response = client.post(f"/dispatcher/{route}", json=_body(seeded, which))
        assert response.status_code == 403, route
        assert "read-only" in response.get_json()["error"]
    assert client.get("/dispatcher/all-operations").get_json() == []
    assert client.get("/dispatcher/get-all-runs").status_code == 200
    assert client.post("/dispatcher/get-run", json={"run_id": seeded.ongoing}).status_code == 200


def test_readonly_console_serves_a_readonly_dispatcher(store: Store, seeded: Seeded) -> None:
    """The console's launch code hands --readonly to its embedded dispatcher."""
    import argparse
    import urllib.error
    import urllib.request

    from rfconsole.console.launch import dispatcher_thread

    args = argparse.Namespace(host="127.0.0.1", port=0, token=None, readonly=True, no_dispatcher=False)
    with dispatcher_thread(store, args) as (url, error):
        assert error is None
        request = urllib.request.Request(f"{url}/dispatcher/stop-run", method="POST",
                                         data=json.dumps({"run_id": seeded.ongoing}).encode(),
                                         headers={"Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == 403
        assert "read-only" in json.loads(refused.value.read())["error"]
        refused.value.close()


def test_a_readonly_database_is_one_sentence_and_503(db_path: Path, tmp_path: Path) -> None:
    store = Store.open(str(db_path))
    seeded = seed_experiment(store, tmp_path)

    @event.listens_for(store.engine, "connect")
    def _query_only(dbapi_connection, _record):  # what a read-only file or mount gives
        dbapi_connection.execute("PRAGMA query_only = 1")

    store.engine.dispose()
    try:
        client = create_app(store).test_client()
        response = client.post("/dispatcher/stop-run", json={"run_id": seeded.ongoing})
        assert response.status_code == 503
        error = response.get_json()["error"]
        assert "read-only" in error
        assert "INSERT" not in error
        assert "SELECT" not in error
        assert client.get("/dispatcher/get-all-runs").status_code == 200
    finally:
        store.close()


def test_a_database_locked_past_the_busy_timeout_is_503_with_retry_after(
        db_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(engine, "BUSY_TIMEOUT_MS", 100)
    store = Store.open(str(db_path))
    seeded = seed_experiment(store, tmp_path)
    client = create_app(store).test_client()
    holder = sqlite3.connect(db_path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # another writer holds the lock
        with caplog.at_level(logging.WARNING, logger="rfconsole.dispatcher"):
            for _ in range(3):
                response = client.post("/dispatcher/stop-run", json={"run_id": seeded.ongoing})
                assert response.status_code == 503
                assert int(response.headers["Retry-After"]) > 0
                assert "busy" in response.get_json()["error"]
        logged = [r.getMessage() for r in caplog.records if "Database refused" in r.getMessage()]
        assert len(logged) == 1  # once per 10 s, and without the driver's SQL
        assert "UPDATE" not in logged[0]
        assert "INSERT" not in logged[0]
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        store.close()


def test_redirects_404_and_405_are_json(client: FlaskClient) -> None:
    redirect = client.get("/dispatcher//health-check")
    assert redirect.status_code == 308
    assert redirect.mimetype == "application/json"
    assert redirect.get_json()["location"].endswith("/dispatcher/health-check")
    for response in (client.get("/dispatcher/nope"), client.get("/dispatcher/stop-run"),
                     client.get("/no-such-page")):  # "/" itself is the web dashboard
        assert response.mimetype == "application/json"
        assert "error" in response.get_json()


def _corrupt(db_path: Path, run_id: int, column: str, text: str) -> None:
    with closing(sqlite3.connect(db_path)) as raw, raw:  # closed, not only committed
        raw.execute(f"UPDATE runs SET {column} = ?, updated_at = '2030-01-02 03:04:05.000000' "
                    "WHERE run_id = ?", (text, run_id))
        raw.execute("UPDATE experiments SET revision = revision + 1")


@pytest.mark.sqlite_only  # the damage is written into the SQLite file behind the store's back
@pytest.mark.parametrize("column", ["config_leaf", "flattened_config", "metrics"])
def test_a_run_with_unreadable_stored_json_still_lists(
        store: Store, seeded: Seeded, db_path: Path, client: FlaskClient, column: str) -> None:
    client.get("/dispatcher/get-all-runs")  # cached before the damage: the listing must notice
    _corrupt(db_path, seeded.new, column, '{"learning_rate": 0.1, "model": {"wid')
    listing = client.get("/dispatcher/get-all-runs")
    assert listing.status_code == 200
    shown = {run["run_id"]: run for run in json.loads(listing.data)}  # the body parses
    damaged = shown[seeded.new]
    assert damaged[column] is None
    assert column in damaged["error"]
    assert "not valid JSON" in damaged["error"]
    assert shown[seeded.ongoing]["config"] == {"learning_rate": 0.1, "model": {"width": 8}}
    one = client.post("/dispatcher/get-run", json={"run_id": seeded.new})
    assert one.status_code == 200
    assert one.get_json()[column] is None


def test_a_repeated_op_refusal_is_logged_once_per_run_and_reason(
        client: FlaskClient, seeded: Seeded) -> None:
    now = [1000.0]
    client.application.extensions["rfconsole"].refusals = RefusalThrottle(clock=lambda: now[0])
    log = seeded.experiment_path / "logs" / "dispatcher.log"
    for _ in range(30):  # NEW runs cannot be resumed
        assert client.post("/dispatcher/resume-run", json={"run_id": seeded.new}).status_code == 409
    assert client.post("/dispatcher/resume-run", json={"run_id": seeded.ongoing}).status_code == 409
    lines = [line for line in log.read_text().splitlines() if "refused" in line]
    assert len(lines) == 2  # one for each run
    now[0] += 11
    assert client.post("/dispatcher/resume-run", json={"run_id": seeded.new}).status_code == 409
    lines = [line for line in log.read_text().splitlines() if "refused" in line]
    assert len(lines) == 3
    assert "29 more" in lines[-1]
