"""Fixtures shared by every test folder: a fresh database per test, nothing from $HOME.

With RFCONSOLE_TEST_DB set to a PostgreSQL URL (postgresql+psycopg://user@host:port/db),
`store` and `fresh_db_url` give each test its own new schema on that server (dropped
afterwards) instead of an SQLite file, and tests marked `sqlite_only` are skipped.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import sqlite3
import sys
import uuid
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from rfconsole.db import Store
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

TEST_DB_ENV = "RFCONSOLE_TEST_DB"
# Read once, before the autouse fixture below clears RFCONSOLE_* for every test.
SERVER_URL = os.environ.get(TEST_DB_ENV) or None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if SERVER_URL is None:
        return
    skip = pytest.mark.skip(reason=f"checks SQLite itself; {TEST_DB_ENV} runs the tests on a server database")
    for item in items:
        if item.get_closest_marker("sqlite_only"):
            item.add_marker(skip)


def pytest_configure(config: pytest.Config) -> None:
    """On Python before 3.12, warn as 3.12+ does when a datetime reaches sqlite3 unconverted.

    Python 3.12 deprecated sqlite3's default datetime adapter; code that hands the driver a
    datetime (instead of the column's own text form) then fails under filterwarnings=error.
    Warning the same way here makes the tests catch it on every supported Python.
    """
    if sys.version_info < (3, 12):
        def adapt(value: datetime.datetime) -> str:
            warnings.warn("The default datetime adapter is deprecated as of Python 3.12",
                          DeprecationWarning, stacklevel=2)
            return value.isoformat(" ")

        sqlite3.register_adapter(datetime.datetime, adapt)


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the user's data folder and RFCONSOLE_* settings out of every test."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    for name in list(os.environ):
        if name.startswith("RFCONSOLE_"):
            monkeypatch.delenv(name)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "rfconsole.db"


@contextlib.contextmanager
def fresh_schema(server_url: str, prefix: str = "rfc_test") -> Iterator[str]:
    """The URL of a new schema on the PostgreSQL server at `server_url`, dropped afterwards."""
    schema = f"{prefix}_{uuid.uuid4().hex[:16]}"
    admin = create_engine(server_url)
    try:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
        url = make_url(server_url).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql("SET LOCAL lock_timeout = '20s'")
            conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        admin.dispose()


@pytest.fixture(scope="session")
def new_schema() -> Callable[..., contextlib.AbstractContextManager[str]]:
    """`fresh_schema`, for tests in other folders: `with new_schema(server_url) as url: ...`."""
    return fresh_schema


@pytest.fixture
def fresh_db_url(db_path: Path) -> Iterator[str]:
    """The URL of a new, empty database: an SQLite file, or a new schema on RFCONSOLE_TEST_DB."""
    if SERVER_URL is None:
        yield f"sqlite:///{db_path}"
        return
    with fresh_schema(SERVER_URL) as url:
        yield url


@pytest.fixture
def store(fresh_db_url: str) -> Iterator[Store]:
    s = Store.open(fresh_db_url)
    yield s
    s.close()
