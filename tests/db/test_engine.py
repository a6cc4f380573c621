"""Engine set-up: pragmas, URL resolution, schema version, aware timestamps."""

from __future__ import annotations

import sqlite3
from contextlib import closing

import pytest
from rfconsole.db import SCHEMA_VERSION, SchemaVersionError, Store, StoreError, experiments, resolve_db_url
from rfconsole.db.engine import default_db_path
from sqlalchemy import text


@pytest.mark.sqlite_only
def test_every_connection_gets_the_pragmas(store):
    with store.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 1  # NORMAL
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() >= 5000


def test_foreign_keys_are_enforced(store):
    from rfconsole.db import runs

    with pytest.raises(Exception, match="(?i)foreign key"), store.write() as session:
        runs.create_run(session, experiment_id=42, config_leaf={}, num_chunks=1, num_epochs=1)


def test_resolve_db_url(tmp_path, monkeypatch):
    assert resolve_db_url(tmp_path / "a.db") == f"sqlite:///{tmp_path / 'a.db'}"
    assert resolve_db_url("postgresql://u@h/db") == "postgresql://u@h/db"
    monkeypatch.setenv("RFCONSOLE_DB", str(tmp_path / "env.db"))
    assert resolve_db_url() == f"sqlite:///{tmp_path / 'env.db'}"
    monkeypatch.delenv("RFCONSOLE_DB")
    assert resolve_db_url() == f"sqlite:///{default_db_path()}"
    assert str(default_db_path()).startswith(str(tmp_path.parent))  # the isolated home


@pytest.mark.sqlite_only
def test_another_schema_version_is_a_clear_error(db_path):
    Store.open(str(db_path)).close()
    with closing(sqlite3.connect(db_path)) as conn, conn:  # `with conn` commits, closing() closes
        conn.execute("UPDATE rfconsole_meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(SchemaVersionError) as refused:
        Store.open(str(db_path))
    assert "has schema version 99" in refused.value.message
    assert f"reads version {SCHEMA_VERSION}" in refused.value.message


@pytest.mark.sqlite_only
def test_a_foreign_database_is_refused(db_path):
    with closing(sqlite3.connect(db_path)) as conn, conn:
        conn.execute("CREATE TABLE runs (id INTEGER)")
    with pytest.raises(SchemaVersionError, match="was not made by rfconsole"):
        Store.open(str(db_path))


@pytest.mark.sqlite_only
def test_a_database_that_cannot_be_opened_is_one_sentence(tmp_path):
    not_a_database = tmp_path / "notes.txt"
    not_a_database.write_text("hello, this is not SQLite\n" * 100)
    cases = [
        (str(not_a_database), f"at {not_a_database}: file is not a database"),
        ("nosuchdialect://host/db", "at nosuchdialect://host/db: Can't load plugin"),
        (str(not_a_database / "sub" / "x.db"), "x.db: Not a directory"),
    ]
    for db, needle in cases:
        with pytest.raises(StoreError) as refused:
            Store.open(db)
        assert needle in refused.value.message
        assert refused.value.message.endswith("; check --db or RFCONSOLE_DB.")
        assert "\n" not in refused.value.message


@pytest.mark.sqlite_only
def test_an_empty_database_opened_without_create_says_what_to_do(db_path):
    sqlite3.connect(db_path).close()
    with pytest.raises(SchemaVersionError) as refused:
        Store.open(str(db_path), create=False)
    assert refused.value.message == (
        f"The database at {db_path} holds no rfconsole data yet; start an experiment first "
        f"or point --db at another database.")


@pytest.mark.sqlite_only
def test_reopening_keeps_the_data(db_path):
    first = Store.open(str(db_path))
    with first.write() as session:
        experiments.create_experiment(session, name="kept", experiment_path="/x")
    first.close()
    second = Store.open(str(db_path))
    with second.read() as session:
        assert experiments.list_experiment_names(session) == ["kept"]
    second.close()


def test_timestamps_come_back_timezone_aware_utc(store):
    with store.write() as session:
        created = experiments.create_experiment(session, name="t", experiment_path="/x")
    with store.read() as session:
        read = experiments.get_experiment(session, created.id)
    assert read.created_at.utcoffset().total_seconds() == 0
    assert read.created_at == created.created_at


def test_a_bad_url_is_refused_without_repeating_its_password():
    from rfconsole.db import InvalidError

    with pytest.raises(InvalidError) as refused:
        resolve_db_url("postgresql://user:s3cret@host:notaport/db")
    assert "s3cret" not in refused.value.message
    assert "postgresql:// database URL is not a valid SQLAlchemy URL" in refused.value.message
