"""ruff on the whole tree; strict mypy on all four packages, resolving `rfconsole.*` to this tree."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ["db", "dispatcher", "controller", "console"]


def _mypy(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mypy", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_ruff_finds_nothing():
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "--output-format", "concise", "."],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.slow
def test_mypy_strict_on_every_package():
    done = _mypy()  # the files and the strictness come from pyproject.toml's [tool.mypy]
    assert done.returncode == 0, done.stdout + done.stderr
    for package in PACKAGES:  # every package is in what `python -m mypy` checks
        assert (ROOT / "rfconsole" / package).resolve() == ROOT / package


@pytest.mark.slow
def test_mypy_sees_the_real_types_across_packages(tmp_path):
    """A call across layers is checked: `rfconsole.db.Store` is the class in db/store.py, not Any."""
    probe = tmp_path / "probe.py"
    probe.write_text(textwrap.dedent(
        """
        from rfconsole.controller import Controller
        from rfconsole.db import Store

        reveal_type(Store.open)
        reveal_type(Controller)
        Store.open(42)
        """
    ))
    done = _mypy("--cache-dir", str(tmp_path / "cache"), str(probe))
    assert "rfconsole.db.store.Store" in done.stdout, done.stdout + done.stderr
    assert "rfconsole.controller.runner.Controller" in done.stdout, done.stdout + done.stderr
    assert 'incompatible type "int"' in done.stdout, done.stdout + done.stderr  # Store.open(42) is caught
    assert 'Revealed type is "Any"' not in done.stdout, done.stdout


def test_every_package_ships_py_typed():
    for package in PACKAGES:
        assert (ROOT / package / "py.typed").is_file(), package
