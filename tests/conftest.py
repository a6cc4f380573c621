"""Fixtures shared by every test folder: a fresh database file per test, nothing from $HOME."""

from __future__ import annotations

from pathlib import Path

import pytest
from rfconsole.db import Store


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the user's data folder and RFCONSOLE_* settings out of every test."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    for name in list(__import__("os").environ):
        if name.startswith("RFCONSOLE_"):
            monkeypatch.delenv(name)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "rfconsole.db"


@pytest.fixture
def store(db_path: Path) -> Store:
    s = Store.open(str(db_path))
    yield s
    s.close()
