"""The console beside its dispatcher thread, a port already in use, a bad database, and the demo
end to end in a real terminal (tmux)."""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
import warnings
from pathlib import Path
from typing import Any

import pytest
import requests
from rfconsole.console.cli import main
from rfconsole.console.launch import dispatcher_thread
from rfconsole.db import Store, experiments, ic_ops, runs

pytestmark = pytest.mark.anyio


def console_args(**overrides: Any) -> argparse.Namespace:
    values = {"db": None, "host": "127.0.0.1", "port": 0, "no_dispatcher": False,
              "readonly": False, "token": None, "refresh": 0.2}
    values.update(overrides)
    return argparse.Namespace(**values)


def health_check(url: str) -> tuple[int, str]:
    """GET with curl, as an operator would; with requests where there is no curl."""
    if shutil.which("curl"):
        done = subprocess.run(["curl", "-s", "-w", "\n%{http_code}", url], capture_output=True,
                              text=True, timeout=30)
        body, _, code = done.stdout.rpartition("\n")
        return int(code), body.strip()
    response = requests.get(url, timeout=30)
    return response.status_code, response.text.strip()


@pytest.mark.slow
async def test_http_requests_reach_the_dispatcher_thread_and_show_in_the_console(
        store: Store, seeded: Any, kit: Any) -> None:
    run_id = seeded.run_ids[0]
    with dispatcher_thread(store, console_args()) as (url, error):
        assert error is None
        app = kit.console_app(store, dispatcher_url=url)
        async with app.run_test(size=(120, 36)) as pilot:
            await kit.wait_for_data(pilot)
            assert url in app.runs_screen.sub_title
            health = await asyncio.to_thread(health_check, f"{url}/dispatcher/health-check")
            assert health == (200, '"Dispatcher is up and running"')
            stop = await asyncio.to_thread(requests.post, f"{url}/dispatcher/stop-run",
                                           json={"run_id": run_id}, timeout=10)
            assert stop.status_code == 200, stop.text
            ic_id = stop.json()["ic_id"]
            ops_table = app.runs_screen.query_one("#ops")
            await kit.wait_until(pilot, lambda: str(ic_id) in [str(k.value) for k in ops_table.rows],
                                 what="the HTTP op in the ops pane")
            row = ops_table.get_row(str(ic_id))
            assert [str(cell) for cell in row[1:4]] == ["stop", str(run_id), "PENDING"]
            assert str(row[5]).startswith("http:")


def collect_failed_bind_leftovers() -> None:
    """Waitress leaves the socket and trigger of a failed bind to the garbage collector; collect
    them here, so that their ResourceWarning cannot surface in whichever test runs next."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


@pytest.mark.slow
async def test_a_port_in_use_is_a_message_in_the_console(store: Store, kit: Any) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with dispatcher_thread(store, console_args(port=port)) as (url, error):
            collect_failed_bind_leftovers()
            assert url is None
            assert error is not None
            assert str(port) in error
            app = kit.console_app(store, dispatcher_url=None, dispatcher_error=error)
            async with app.run_test(size=(100, 30)) as pilot:
                await kit.wait_for_data(pilot)
                assert "dispatcher not running" in app.runs_screen.sub_title
                assert error in kit.notifications(app)


def test_a_public_address_without_a_token_is_refused_with_a_sentence(store: Store) -> None:
    with dispatcher_thread(store, console_args(host="0.0.0.0")) as (url, error):
        assert url is None
        assert error is not None
        assert "token" in error


def test_a_file_that_is_not_a_database_is_one_line(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.db"
    bad.write_text("not a database")
    assert main(["--db", str(bad), "--no-dispatcher"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("rfconsole: Cannot open")
    assert "\n" not in err


# --- the demo in a real terminal ---------------------------------------------------------


class Tmux:
    """A private tmux server (its own socket) so the test's environment is the pane's."""

    def __init__(self) -> None:
        self.socket = f"rfconsole-test-{uuid.uuid4().hex[:8]}"

    def __call__(self, *args: str) -> str:
        done = subprocess.run(["tmux", "-L", self.socket, "-f", os.devnull, *args],
                              capture_output=True, text=True, timeout=30, check=True)
        return done.stdout

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", "demo")

    def wait_for(self, predicate: Any, what: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            text = self.screen()
            if predicate(text):
                return text
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}; the screen shows:\n{text}")

    def kill(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, timeout=30)


def ic_ops_of(db: Path) -> list[Any]:
    store = Store.open(str(db))
    try:
        with store.read() as session:
            return ic_ops.list_ops(session)
    finally:
        store.close()


@pytest.mark.slow
@pytest.mark.parametrize("how", ["the terminal closes", "SIGTERM"])
def test_a_hang_up_ends_the_demo_as_quitting_does(tmp_path: Path, how: str) -> None:
    """Closing the tmux session (what an SSH drop does) or `kill` cancels the experiment
    cleanly: no run is left ONGOING, so every one can be resumed."""
    assert shutil.which("tmux"), "tmux is needed for this test (apt-get install tmux)"
    db = tmp_path / "demo.db"
    # Long enough that it is still running when the hang-up comes, however loaded the machine.
    command = (f"exec {sys.executable} -m rfconsole.console demo --pace 0.2 --runs 3 "
               f"--chunks 300 --epochs 2 --port 0 --db {db}")
    tmux = Tmux()
    try:
        tmux("new-session", "-d", "-s", "demo", "-x", "100", "-y", "30", command)
        tmux.wait_for(lambda text: text.count("ONGOING") >= 2, "the demo's runs")
        if how == "SIGTERM":
            os.kill(int(tmux("display-message", "-p", "-t", "demo", "#{pane_pid}")), 15)
        else:
            tmux("kill-session", "-t", "demo")
        deadline = time.monotonic() + 60
        status = "running"
        while time.monotonic() < deadline:
            store = Store.open(str(db))
            try:
                with store.read() as session:
                    [name] = experiments.list_experiment_names(session)
                    experiment = experiments.get_experiment_by_name(session, name)
                    status = experiment.status
                    statuses = [run.status for run in
                                runs.list_runs(session, experiment_id=experiment.id)]
            finally:
                store.close()
            if status != "running":
                break
            time.sleep(0.2)
        assert status == "cancelled"
        assert "ONGOING" not in statuses
        assert "STOPPED" in statuses
    finally:
        tmux.kill()


def run_status(db: Path, run_id: int) -> str:
    store = Store.open(str(db))
    try:
        with store.read() as session:
            return runs.get_run(session, run_id).status
    finally:
        store.close()


@pytest.mark.slow
def test_demo_in_tmux_stop_a_run_with_the_keyboard_and_quit(tmp_path: Path) -> None:
    assert shutil.which("tmux"), "tmux is needed for this test (apt-get install tmux)"
    db = tmp_path / "demo.db"
    exit_file = tmp_path / "exit-code"
    command = (f"{sys.executable} -m rfconsole.console demo --pace 0.2 --runs 3 --chunks 30 "
               f"--epochs 2 --port 0 --db {db}; echo $? > {exit_file}; sleep 30")
    tmux = Tmux()
    try:
        tmux("new-session", "-d", "-s", "demo", "-x", "110", "-y", "30", command)
        tmux.wait_for(lambda text: text.count("ONGOING") >= 2 and "run_1" in text,
                      "the demo's runs")
        # Typed in one burst (a paste, a slow link): every key goes to the filter field.
        tmux("send-keys", "-t", "demo", "-l", "/stopped")
        tmux.wait_for(lambda text: "stopped" in text, "the filter field holding the burst")
        time.sleep(1)  # a stray key would have queued its op by now
        assert ic_ops_of(db) == []
        tmux("send-keys", "-t", "demo", "Escape")
        tmux.wait_for(lambda text: "stopped" not in text, "the filter field closed")
        tmux("send-keys", "-t", "demo", "s")  # the cursor starts on run 1
        screen = tmux.wait_for(lambda text: "STOPPED" in text and "COMPLETED  applied" in text,
                               "run 1 STOPPED and the op applied")
        assert any(line.split()[:3] == ["1", "run_1", "STOPPED"] for line in screen.splitlines())
        assert run_status(db, 1) == "STOPPED"
        tmux("send-keys", "-t", "demo", "q")
        deadline = time.monotonic() + 60
        while not exit_file.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert exit_file.read_text().strip() == "0"
        screen = tmux.screen()
        assert "Traceback" not in screen
        assert "is cancelled; resume it with" in screen.replace("\n", "")
        assert f"--db {db} --experiment" in screen.replace("\n", "")
    finally:
        tmux.kill()
    store = Store.open(str(db))
    try:
        with store.read() as session:
            [name] = experiments.list_experiment_names(session)
            experiment = experiments.get_experiment_by_name(session, name)
            assert experiment.status == "cancelled"
            [stop] = ic_ops.list_ops(session, run_id=1)
            assert (stop.operation, stop.status) == ("STOP", "COMPLETED")
            assert stop.origin.startswith("console:")
    finally:
        store.close()


@pytest.mark.slow
def test_the_headless_demo_serves_the_api_and_ends_cleanly_on_sigterm(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    process = subprocess.Popen(
        [sys.executable, "-m", "rfconsole.console", "demo", "--headless", "--pace", "0.2",
         "--runs", "2", "--port", "0", "--db", str(db)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(2)]
        assert lines[0].startswith(f"{db} did not exist: a new, empty database was made")
        assert lines[1].startswith("Dispatcher: http://127.0.0.1:")
        url = lines[1].split()[1]
        code, _ = health_check(f"{url}/health-check")
        assert code == 200
        while "started with" not in process.stdout.readline():
            pass  # until the experiment's controller runs
        process.terminate()
        output = process.communicate(timeout=60)[0]
    finally:
        if process.poll() is None:
            process.kill()
    assert "cancelled" in output
    assert "Traceback" not in output
    store = Store.open(str(db))
    try:
        with store.read() as session:
            [name] = experiments.list_experiment_names(session)
            assert experiments.get_experiment_by_name(session, name).status == "cancelled"
    finally:
        store.close()

