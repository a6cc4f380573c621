"""packaging/build-pyz: one file, copied alone to an empty folder, runs with only the bare Python.

The .pyz runs under this test run's Python *without* its virtual environment and with `-S` (no
site-packages of that Python either), in an environment with a HOME of its own, no RFCONSOLE_*
and no PYTHONPATH: everything it needs must come from the file itself.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from .conftest import ROOT, base_python, clean_env

pytestmark = pytest.mark.slow  # builds the zipapp with every dependency (a minute or more)


@pytest.fixture(scope="module")
def pyz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    built = tmp_path_factory.mktemp("pyz-build") / "rfconsole.pyz"
    done = subprocess.run([str(ROOT / "packaging" / "build-pyz"), str(built)], cwd=ROOT,
                          env={**os.environ, "PYTHON": sys.executable, "PIP_QUIET": "1"},
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    alone = tmp_path_factory.mktemp("empty") / "rfconsole.pyz"
    shutil.copy2(built, alone)
    assert sorted(p.name for p in alone.parent.iterdir()) == ["rfconsole.pyz"]
    return alone


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


def _run(pyz: Path, home: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([base_python(), "-S", pyz.name, *args], cwd=pyz.parent, env=clean_env(home),
                          capture_output=True, text=True, timeout=timeout)


def test_version_names_the_python(pyz: Path, home: Path) -> None:
    done = _run(pyz, home, "--version")
    assert done.returncode == 0, done.stderr[-2000:]
    assert re.fullmatch(rf"rfconsole \S+ \(Python {re.escape(sys.version.split()[0])}, .+\)\n", done.stdout)
    # shiv unpacked the dependencies under the HOME it was given, nowhere else
    unpacked = [p.name for p in (home / ".shiv").iterdir() if not p.name.startswith(".")]  # not the lock
    assert len(unpacked) == 1
    assert unpacked[0].startswith("rfconsole.pyz_")


def test_headless_demo(pyz: Path, home: Path) -> None:
    done = _run(pyz, home, "demo", "--headless", "--runs", "2", "--chunks", "2", "--epochs", "1",
                "--pace", "0")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "completed (2 runs)" in done.stdout
    assert (home / ".local" / "share" / "rfconsole" / "rfconsole.db").exists()


def test_serve_answers_the_health_check(pyz: Path, home: Path, tmp_path: Path) -> None:
    with subprocess.Popen([base_python(), "-S", pyz.name, "serve", "--port", "0", "--db",
                           str(tmp_path / "serve.db")],
                          cwd=pyz.parent, env=clean_env(home), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            line = process.stdout.readline()  # blocks until the server is up (or the process ended)
            found = re.search(r"serving (http://\S+/dispatcher)", line)
            assert found, line
            with urllib.request.urlopen(f"{found.group(1)}/health-check", timeout=30) as answer:
                assert answer.status == 200
                assert json.loads(answer.read()) == "Dispatcher is up and running"
        finally:
            process.terminate()
            _, errors = process.communicate(timeout=30)
    assert process.returncode == 0, errors[-2000:]


def test_the_console_starts_in_a_terminal(pyz: Path, home: Path, tmp_path: Path) -> None:
    if shutil.which("tmux") is None:
        if os.environ.get("CI"):
            pytest.fail("tmux is missing; .ci/run installs it")
        pytest.skip("tmux is not installed")
    session = f"rfconsole-pyz-{os.getpid()}"
    env = clean_env(home, TERM="xterm-256color")
    command = " ".join([base_python(), "-S", pyz.name, "--no-dispatcher", "--db", str(tmp_path / "c.db")])
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "100", "-y", "30",
                    "-c", str(pyz.parent), *[f"-e{k}={v}" for k, v in env.items()], command],
                   check=True, timeout=30)
    try:
        deadline = time.monotonic() + 60
        screen = ""
        while "Quit" not in screen and time.monotonic() < deadline:
            time.sleep(0.2)  # polling the terminal: there is no event to wait on
            screen = subprocess.run(["tmux", "capture-pane", "-p", "-t", session], capture_output=True,
                                    text=True, timeout=30).stdout
        assert "Quit" in screen, screen
        assert "rfconsole" in screen, screen
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True, timeout=30)
