"""An app made before its database: it answers at once, and the views that read data wait.

`rfconsole serve` listens before it opens its database (and before SQLAlchemy,
SQLModel and pydantic have loaded), so its first answer comes in about 0.15 s
at 10,000 runs instead of about 0.45 s (`benchmarks/bench_vs_rapidfire.py`).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from rfconsole.db import Store
from rfconsole.dispatcher import state as dispatcher_state
from rfconsole.dispatcher.app import attach_store, create_app, fail_state

from .conftest import Seeded, seed_experiment

DATA_LAYER = ("sqlalchemy", "sqlmodel", "pydantic", "rfconsole.db.models", "rfconsole.db.store")


def test_making_and_serving_the_app_loads_no_data_layer(tmp_path: Path) -> None:
    """What `serve` loads before its first answer: Flask and Waitress, not the data layer."""
    script = (
        "import sys\n"
        "from rfconsole.dispatcher.cli import run_serve\n"
        "from rfconsole.dispatcher import create_app\n"
        "app = create_app(None)\n"
        "answer = app.test_client().get('/dispatcher/health-check')\n"
        "assert answer.status_code == 200, answer.status_code\n"
        f"print(sorted(m for m in {DATA_LAYER!r} if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                            cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def _get_in_thread(client: FlaskClient, path: str) -> tuple[threading.Thread, list[object]]:
    answers: list[object] = []

    def ask() -> None:
        response = client.get(path)
        answers.append((response.status_code, response.get_json()))

    thread = threading.Thread(target=ask, daemon=True)
    thread.start()
    return thread, answers


def test_views_that_read_data_wait_for_the_database(store: Store, seeded: Seeded) -> None:
    app = create_app(None)
    client = app.test_client()
    assert client.get("/dispatcher/health-check").status_code == 200
    assert client.get("/dispatcher/get-server-info").status_code == 200
    thread, answers = _get_in_thread(client, "/dispatcher/get-all-runs")
    thread.join(0.2)
    assert thread.is_alive()  # waiting for the database, not refused
    assert not answers
    attach_store(app, store)
    thread.join(10)
    status, body = answers[0]  # type: ignore[misc]
    assert status == 200
    assert len(body) == 5
    assert client.get("/dispatcher/get-all-runs").status_code == 200


def test_a_database_that_could_not_be_opened_is_one_sentence() -> None:
    app = create_app(None)
    client = app.test_client()
    thread, answers = _get_in_thread(client, "/dispatcher/get-all-runs")
    fail_state(app, "The file notes.txt is not a database.")
    thread.join(10)
    expected = {"error": "The dispatcher could not open its database: The file notes.txt is not a database."}
    assert answers == [(503, expected)]
    response = client.post("/dispatcher/stop-run", json={"run_id": 1})
    assert (response.status_code, response.get_json()) == (503, expected)
    assert client.get("/dispatcher/health-check").status_code == 200


def test_a_database_still_opening_is_503_with_retry_after(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dispatcher_state, "OPEN_WAIT_SECONDS", 0.05)
    response = create_app(None).test_client().get("/dispatcher/get-all-runs")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert response.get_json() == {"error": "The dispatcher is still opening its database; try again in a moment."}


def test_at_most_a_few_requests_wait_so_health_checks_keep_being_answered(store: Store,
                                                                       seeded: Seeded) -> None:
    app = create_app(None)
    client = app.test_client()
    opening = app.extensions[dispatcher_state.OPENING_KEY]
    waiting = [_get_in_thread(client, "/dispatcher/get-all-runs") for _ in range(dispatcher_state.MAX_WAITING)]
    deadline = time.monotonic() + 10
    while opening.waiting < dispatcher_state.MAX_WAITING:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    started = time.monotonic()
    response = client.get("/dispatcher/get-run-metrics?run_id=1")
    assert time.monotonic() - started < 1  # answered at once, not after the wait
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert client.get("/dispatcher/health-check").status_code == 200
    attach_store(app, store)
    for thread, answers in waiting:
        thread.join(10)
        assert answers[0][0] == 200  # type: ignore[index]


def test_refusals_that_need_no_database_do_not_wait_for_it() -> None:
    client = create_app(None, readonly=True).test_client()
    response = client.post("/dispatcher/stop-run", json={"run_id": 1})
    assert response.status_code == 403
    assert "read-only" in response.get_json()["error"]
    writable = create_app(None).test_client()
    response = writable.post("/dispatcher/stop-run", data="run_id=1",
                             content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415


def test_failing_settles_the_waiting_requests_first() -> None:
    app = create_app(None)
    opening = app.extensions[dispatcher_state.OPENING_KEY]
    thread, answers = _get_in_thread(app.test_client(), "/dispatcher/get-all-runs")
    deadline = time.monotonic() + 10
    while opening.waiting < 1:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    fail_state(app, "The database is gone.", settle_seconds=10)
    assert opening.waiting == 0
    thread.join(10)
    assert answers[0][0] == 503  # type: ignore[index]
    fail_state(app, "Again.")  # a second failure (or one after the database came) changes nothing
    assert opening.failure == "The database is gone."


# `rfconsole serve` whose database takes until the file `release` exists to open.
SLOW_OPEN = """
import os, sys, time
from rfconsole.db.store import Store
from rfconsole.console.cli import main

release, opened = sys.argv[1], sys.argv[2]
real_open = Store.open.__func__

def slow_open(cls, *args, **kwargs):
    while not os.path.exists(release):
        time.sleep(0.01)
    store = real_open(cls, *args, **kwargs)
    open(opened, "w").close()
    return store

Store.open = classmethod(slow_open)
sys.exit(main(["serve", *sys.argv[3:]]))
"""


def _get(url: str) -> tuple[int, object]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.mark.slow  # starts `rfconsole serve` in a new process
def test_serve_answers_before_its_database_is_open(tmp_path: Path, db_path: Path) -> None:
    seeded_store = Store.open(str(db_path))
    seed_experiment(seeded_store, tmp_path)
    seeded_store.close()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free_port = probe.getsockname()[1]
    release, opened = tmp_path / "release", tmp_path / "opened"
    base = f"http://127.0.0.1:{free_port}/dispatcher"
    process = subprocess.Popen(
        [sys.executable, "-c", SLOW_OPEN, str(release), str(opened), "--db", str(db_path),
         "--port", str(free_port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "RFCONSOLE_TOKEN": ""})
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                assert _get(f"{base}/health-check") == (200, "Dispatcher is up and running")
                break
            except (urllib.error.URLError, ConnectionError):
                assert time.monotonic() < deadline, process.stderr.read() if process.poll() is not None else ""
                time.sleep(0.02)
        assert not opened.exists()  # answered while the database was not open yet
        answers: list[tuple[int, object]] = []
        listing = threading.Thread(target=lambda: answers.append(_get(f"{base}/get-all-runs")), daemon=True)
        listing.start()
        listing.join(0.3)
        assert listing.is_alive()  # waits for the database rather than failing
        release.touch()
        listing.join(30)
        status, runs = answers[0]
        assert status == 200
        assert isinstance(runs, list)
        assert len(runs) == 5
        assert "serving" in process.stdout.readline()  # the banner comes once the database is open
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert "Traceback" not in err
