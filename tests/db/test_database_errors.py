"""A read-only or locked database is a typed refusal with one sentence (no SQL, no parameters),
and a database URL is never shown with its password."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from typing import Any

import pytest
from rfconsole.db import (
    DatabaseBusy,
    DatabaseReadOnly,
    Store,
    StoreError,
    engine,
    experiments,
    mask_url,
    runs,
)
from sqlalchemy import create_engine, event


def _one_sentence(error: StoreError) -> None:
    assert "\n" not in error.message
    assert "SQL" not in error.message
    assert "[parameters" not in error.message
    assert error.message.endswith(".")


def test_a_read_only_database_is_one_sentence(store, seed):
    run_id = seed.run()
    if store.engine.dialect.name == "sqlite":
        def read_only(dbapi_connection, record):
            dbapi_connection.execute("PRAGMA query_only = ON")
    else:
        def read_only(dbapi_connection, record):
            with dbapi_connection.cursor() as cursor:
                cursor.execute("SET default_transaction_read_only = on")
            dbapi_connection.commit()
    event.listen(store.engine, "connect", read_only)
    store.engine.dispose()  # new connections, each read-only
    with store.read() as session:
        assert runs.get_run(session, run_id).run_id == run_id  # reading still works
    with pytest.raises(DatabaseReadOnly) as refused, store.write() as session:
        runs.update_run(session, run_id, status="ONGOING")
    assert refused.value.status == 503
    assert refused.value.message.startswith("The database at ")
    assert "is read-only, so nothing can be changed" in refused.value.message
    _one_sentence(refused.value)
    with pytest.raises(DatabaseReadOnly):
        experiments.record_heartbeat(store, seed.experiment.id)


def test_a_lock_held_past_the_busy_timeout_is_database_busy(fresh_db_url, monkeypatch):
    monkeypatch.setattr(engine, "BUSY_TIMEOUT_MS", 300)
    store = Store.open(fresh_db_url)
    with store.write() as session:
        experiment = experiments.create_experiment(session, name="e", experiment_path="/x")
    release = threading.Event()
    holding = threading.Event()

    def hold_the_lock() -> None:
        raw = create_engine(fresh_db_url)
        if store.engine.dialect.name == "sqlite":
            conn: Any = sqlite3.connect(store.path, isolation_level=None)
            conn.execute("BEGIN IMMEDIATE")
        else:
            conn = raw.raw_connection()
            conn.cursor().execute("LOCK TABLE experiments IN ACCESS EXCLUSIVE MODE")
        holding.set()
        release.wait(30)
        conn.rollback()
        conn.close()
        raw.dispose()

    holder = threading.Thread(target=hold_the_lock)
    holder.start()
    try:
        assert holding.wait(30)
        with pytest.raises(DatabaseBusy) as refused:
            experiments.record_heartbeat(store, experiment.id)
    finally:
        release.set()
        holder.join()
    assert refused.value.status == 503
    assert refused.value.retry_after > 0
    assert "stayed locked by another writer for longer than the busy timeout" in refused.value.message
    _one_sentence(refused.value)
    experiments.record_heartbeat(store, experiment.id)  # free again: works
    store.close()


@pytest.mark.parametrize(("url", "shown"), [
    ("postgresql+psycopg://ana:s3cr3t@db.example:5432/rf", "postgresql+psycopg://ana:***@db.example:5432/rf"),
    ("postgresql://ana@db.example/rf", "postgresql://ana@db.example/rf"),
    ("/home/ana/rf.db", "/home/ana/rf.db"),
    ("postgresql://ana:s3cr3t@host:port/rf", "postgresql://…"),
])
def test_mask_url_hides_passwords(url, shown):
    assert mask_url(url) == shown
    assert "s3cr3t" not in mask_url(url)


def test_opening_errors_never_show_the_password():
    with pytest.raises(StoreError) as refused:
        Store.open("postgresql+psycopg://ana:s3cr3t@127.0.0.1:1/rf")
    assert "s3cr3t" not in refused.value.message
    assert "ana:***@127.0.0.1:1/rf" in refused.value.message


@pytest.mark.slow  # gives up on a server that never answers: about 3 s
@pytest.mark.parametrize("in_url", [False, True])
def test_a_postgresql_server_that_never_answers_is_given_up_on(monkeypatch: pytest.MonkeyPatch,
                                                               in_url: bool) -> None:
    """A port that accepts connections and never replies: one sentence after the connect timeout."""
    import socket

    from rfconsole.db import engine

    try:
        import psycopg  # noqa: F401
    except ImportError:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("psycopg must be installed in CI (the postgres extra)")
        pytest.skip("psycopg is not installed (the postgres extra)")
    monkeypatch.setattr(engine, "CONNECT_TIMEOUT_SECONDS", 1 if not in_url else 600)
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        url = f"postgresql+psycopg://ana:s3cr3t@127.0.0.1:{port}/rf" + ("?connect_timeout=1" if in_url else "")
        started = time.monotonic()
        with pytest.raises(StoreError) as refused:
            Store.open(url)
    assert time.monotonic() - started < 30
    assert "timeout" in refused.value.message
    assert "s3cr3t" not in refused.value.message
    _one_sentence(refused.value)
