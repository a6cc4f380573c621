"""`rfconsole serve` in a real process: serves, stops cleanly on Ctrl-C, refuses clearly."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # each test starts 'rfconsole serve' in a new process

SERVE = [sys.executable, "-m", "rfconsole.console", "serve"]


def _start(args: list[str], db: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([*SERVE, "--db", str(db), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_serve_answers_and_stops_on_ctrl_c(db_path: Path) -> None:
    process = _start(["--port", "0"], db_path)
    try:
        banner = process.stdout.readline()
        assert "serving http://127.0.0.1:" in banner, process.stderr.read()
        url = banner.split("serving ", 1)[1].split(" ", 1)[0]
        with urllib.request.urlopen(f"{url}/health-check", timeout=10) as response:
            assert json.loads(response.read()) == "Dispatcher is up and running"
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0
    assert "stopping" in out
    assert "Traceback" not in err


def test_serve_refuses_exposed_bind_without_token(db_path: Path) -> None:
    result = subprocess.run([*SERVE, "--db", str(db_path), "--host", "0.0.0.0", "--port", "0"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "without a token" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_on_a_file_that_is_not_a_database_is_one_line(tmp_path: Path) -> None:
    not_a_database = tmp_path / "notes.txt"
    not_a_database.write_text("hello, this is not SQLite\n" * 100)
    result = subprocess.run([*SERVE, "--db", str(not_a_database), "--port", "0"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "file is not a database" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_port_in_use_is_one_line(db_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = subprocess.run([*SERVE, "--db", str(db_path), "--port", str(port)],
                                capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip() == (f"rfconsole: Port {port} on 127.0.0.1 is already in use; "
                                     f"stop the other server or pick another port with --port.")


@pytest.mark.parametrize("token_env", [False, True])
def test_serve_with_token(db_path: Path, token_env: bool) -> None:
    args = ["--port", "0"]
    env = None
    if token_env:
        env = {**os.environ, "RFCONSOLE_TOKEN": "t0k"}
    else:
        args += ["--token", "t0k"]
    process = subprocess.Popen([*SERVE, "--db", str(db_path), *args], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=env)
    try:
        banner = process.stdout.readline()
        url = banner.split("serving ", 1)[1].split(" ", 1)[0]
        with pytest.raises(urllib.error.HTTPError) as denied:
            urllib.request.urlopen(f"{url}/get-all-runs", timeout=10)
        assert denied.value.code == 401
        denied.value.close()
        request = urllib.request.Request(f"{url}/get-all-runs", headers={"Authorization": "Bearer t0k"})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert json.loads(response.read()) == []
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0
