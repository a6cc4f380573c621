"""Serving that holds up: idle connections, gunicorn's real binds, `serve --readonly`, SIGHUP."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from rfconsole.db import Store
from rfconsole.dispatcher import create_app
from rfconsole.dispatcher.server import DispatcherServer

from .conftest import Seeded, seed_experiment
from .test_wsgi import GUNICORN_CONF

IDLE_CONNECTIONS = 150
SERVE = [sys.executable, "-m", "rfconsole.console", "serve"]
GUNICORN = [sys.executable, "-m", "gunicorn", "-c", str(GUNICORN_CONF), "rfconsole.dispatcher.wsgi:app"]


@pytest.mark.slow
def test_health_check_answers_within_a_second_with_150_idle_connections_open(store: Store) -> None:
    server = DispatcherServer(create_app(store), port=0)
    server.start()
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    idle: list[socket.socket] = []
    try:
        for index in range(IDLE_CONNECTIONS):
            conn = socket.create_connection((host, int(port)), timeout=10)
            if index % 2:  # half of them slow: a request begun and never finished
                conn.sendall(b"GET /dispatcher/health-check HTTP/1.1\r\nHost: local")
            idle.append(conn)
        started = time.monotonic()
        with urllib.request.urlopen(f"{server.url}/dispatcher/health-check", timeout=5) as answer:
            assert json.loads(answer.read()) == "Dispatcher is up and running"
        assert time.monotonic() - started < 1.0
    finally:
        for conn in idle:
            conn.close()
        server.stop()


def _serve(db: Path, *args: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen([*SERVE, "--db", str(db), "--port", "0", *args], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})})
    banner = process.stdout.readline()
    assert "serving http://" in banner, process.stderr.read()
    return process, banner


def _finish(process: subprocess.Popen[str], sig: int = signal.SIGTERM) -> tuple[str, str]:
    try:
        process.send_signal(sig)
        return process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


@pytest.mark.slow
@pytest.mark.parametrize("how", ["flag", "env"])
def test_serve_readonly_refuses_ops(db_path: Path, tmp_path: Path, how: str) -> None:
    store = Store.open(str(db_path))
    seeded = seed_experiment(store, tmp_path)
    store.close()
    args, env = (["--readonly"], None) if how == "flag" else ([], {"RFCONSOLE_READONLY": "1"})
    process, banner = _serve(db_path, *args, env=env)
    assert "read-only" in banner
    url = banner.split("serving ", 1)[1].split(" ", 1)[0]
    request = urllib.request.Request(f"{url}/stop-run", data=json.dumps({"run_id": seeded.ongoing}).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 403
    refused.value.close()
    _finish(process)
    assert process.returncode == 0


@pytest.mark.slow
def test_serve_stops_cleanly_on_sighup(db_path: Path) -> None:
    process, _ = _serve(db_path)
    out, err = _finish(process, signal.SIGHUP)
    assert process.returncode == 0
    assert "stopping" in out
    assert "Traceback" not in err


def test_serve_bad_setting_is_one_line(db_path: Path) -> None:
    result = subprocess.run([*SERVE, "--db", str(db_path), "--port", "0"], capture_output=True, text=True,
                            timeout=60, env={**os.environ, "RFCONSOLE_INSECURE": "maybe"})
    assert result.returncode == 1
    assert result.stderr == "rfconsole: RFCONSOLE_INSECURE='maybe' is not a yes/no value (use 1 or 0).\n"


@pytest.mark.slow
@pytest.mark.parametrize("how", ["-b", "GUNICORN_CMD_ARGS"])
def test_gunicorn_refuses_an_exposed_bind_however_given(db_path: Path, how: str) -> None:
    env = {**os.environ, "RFCONSOLE_DB": str(db_path), "RFCONSOLE_WORKERS": "1"}
    command = list(GUNICORN)
    if how == "-b":
        command[5:5] = ["-b", "0.0.0.0:0"]
    else:
        env["GUNICORN_CMD_ARGS"] = "--bind 0.0.0.0:0"
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, env=env, cwd=db_path.parent)
    assert result.returncode == 1
    refusal = [line for line in result.stderr.splitlines() if line.startswith("rfconsole:")]
    assert len(refusal) == 1
    assert "Refusing to serve on 0.0.0.0 without a token" in refusal[0]
    assert "Listening at" not in result.stderr
    assert "Traceback" not in result.stderr


class _Listener:
    def __init__(self, address: tuple[str, int]) -> None:
        self.sock = socket.socket()
        self.sock.bind(address)

    def close(self) -> None:
        self.sock.close()


def test_gunicorn_hooks_check_the_configured_and_the_bound_addresses(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import runpy
    from types import SimpleNamespace

    settings = runpy.run_path(str(GUNICORN_CONF))
    with pytest.raises(SystemExit):  # what `-b 0.0.0.0:8081` leaves in the final configuration
        settings["on_starting"](SimpleNamespace(cfg=SimpleNamespace(bind=["127.0.0.1:8081", "0.0.0.0:8081"])))
    assert "0.0.0.0" in capsys.readouterr().err
    monkeypatch.delenv("RFCONSOLE_BIND", raising=False)
    settings["on_starting"](SimpleNamespace(cfg=SimpleNamespace(bind=["127.0.0.1:8081"])))
    assert os.environ["RFCONSOLE_BIND"] == "127.0.0.1:8081"  # the workers' Host check knows it
    exposed = _Listener(("0.0.0.0", 0))  # e.g. a socket handed over by a supervisor
    try:
        with pytest.raises(SystemExit):
            settings["when_ready"](SimpleNamespace(LISTENERS=[exposed]))
    finally:
        exposed.close()
    local = _Listener(("127.0.0.1", 0))
    try:
        settings["when_ready"](SimpleNamespace(LISTENERS=[local]))
    finally:
        local.close()


def test_the_host_check_knows_what_gunicorn_bound(store: Store, seeded: Seeded,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from rfconsole.dispatcher.config import from_env

    monkeypatch.setenv("RFCONSOLE_BIND", "192.168.7.7:8081")
    client = create_app(store, config=from_env()).test_client()
    assert client.get("/dispatcher/get-all-runs", headers={"Host": "192.168.7.7:8081"}).status_code == 200


@pytest.mark.slow
def test_serve_on_a_wildcard_without_a_token_says_which_names_it_serves(db_path: Path) -> None:
    process, banner = _serve(db_path, "--host", "0.0.0.0", "--insecure")
    url = banner.split("serving ", 1)[1].split(" ", 1)[0].replace("0.0.0.0", "127.0.0.1")
    with urllib.request.urlopen(f"{url}/get-all-runs", timeout=10) as answer:  # loopback names still work
        assert json.loads(answer.read()) == []
    _, err = _finish(process)
    assert "--allowed-host" in err
    assert process.returncode == 0
