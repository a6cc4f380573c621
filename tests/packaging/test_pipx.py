"""The built wheel installs with pipx into a private PIPX_HOME/PIPX_BIN_DIR and its command runs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import clean_env

pytestmark = pytest.mark.slow  # a pipx install resolves and installs every dependency


@pytest.fixture(scope="module")
def rfconsole_command(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("pipx")
    home, bin_dir = root / "home", root / "bin"
    env = clean_env(home, PIPX_HOME=str(root / "pipx-home"), PIPX_BIN_DIR=str(bin_dir),
                    PIPX_MAN_DIR=str(root / "man"))
    done = subprocess.run([sys.executable, "-m", "pipx", "install", "--python", sys.executable, str(wheel)],
                          env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    command = bin_dir / "rfconsole"
    assert command.exists(), done.stdout
    assert (root / "pipx-home" / "venvs" / "rfconsole").is_dir()
    return command, home


def test_version_from_the_installed_command(rfconsole_command: tuple[Path, Path]) -> None:
    command, home = rfconsole_command
    done = subprocess.run([str(command), "--version"], env=clean_env(home), capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert re.fullmatch(rf"rfconsole \S+ \(Python {re.escape(sys.version.split()[0])}, .*pipx-home.*\)\n",
                        done.stdout)


def test_headless_demo_from_the_installed_command(rfconsole_command: tuple[Path, Path], tmp_path: Path) -> None:
    command, home = rfconsole_command
    done = subprocess.run([str(command), "demo", "--headless", "--runs", "2", "--chunks", "2", "--epochs", "1",
                           "--pace", "0", "--db", str(tmp_path / "demo.db")],
                          env=clean_env(home), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "completed (2 runs)" in done.stdout
