"""Engines: where the database is, how SQLite connections are set up, the schema version.

Transaction mode on SQLite: the driver's own implicit transactions are turned
off and SQLAlchemy's "begin" event issues the BEGIN itself. Reads use a
deferred BEGIN (a consistent snapshot under WAL); writes go through
`write_engine(engine)`, whose connections issue BEGIN IMMEDIATE so that the
write lock is taken before the rules are checked. Two racing requests therefore
serialise on the lock instead of both passing the check, and a writer never
fails to upgrade a read lock (which the busy timeout cannot retry).
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from platformdirs import user_data_dir
from sqlalchemy import Engine, event, insert, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlmodel import Session, SQLModel, create_engine

from .driver_errors import classify
from .errors import InvalidError, SchemaVersionError, StoreError
from .migrate import can_migrate, migrate
from .models import SCHEMA_VERSION, Meta
from .opening import check_db_text, refuse_foreign_sqlite
from .urls import describe_url, mask_url, sqlite_file

__all__ = [
    "BUSY_TIMEOUT_MS",
    "configure_sqlite_connection",
    "DB_ENV_VAR",
    "default_db_path",
    "ensure_schema",
    "make_engine",
    "mask_url",
    "resolve_db_url",
    "sqlite_file",
    "write_engine",
]

BUSY_TIMEOUT_MS = 30_000
# How long opening a connection to a PostgreSQL server may take.
CONNECT_TIMEOUT_SECONDS = 10
DB_ENV_VAR = "RFCONSOLE_DB"


def default_db_path() -> Path:
    """The database file used when neither --db nor RFCONSOLE_DB says otherwise."""
    return Path(user_data_dir("rfconsole", appauthor=False)) / "rfconsole.db"


def resolve_db_url(path_or_url: str | os.PathLike[str] | None = None) -> str:
    """Turn a --db value (a path or an SQLAlchemy URL), RFCONSOLE_DB, or nothing into a URL."""
    value = os.fspath(path_or_url) if path_or_url is not None else os.environ.get(DB_ENV_VAR)
    if not value:
        return f"sqlite:///{default_db_path()}"
    check_db_text(value)
    if "://" in value:
        try:
            make_url(value)
        except Exception as exc:
            # The text may hold a password: name only its scheme.
            scheme = value.split("://", 1)[0]
            raise InvalidError(
                f"The {scheme}:// database URL is not a valid SQLAlchemy URL; check --db or RFCONSOLE_DB."
            ) from exc
        return value
    return f"sqlite:///{Path(value).expanduser().resolve()}"


def _set_sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    configure_sqlite_connection(dbapi_connection)


def configure_sqlite_connection(dbapi_connection: Any) -> None:
    """The settings of every SQLite connection: WAL, busy timeout, foreign keys, no implicit BEGIN."""
    # Driver-level implicit transactions off: the "begin" listener (or the caller) issues BEGIN.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        _switch_to_wal(cursor)
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _switch_to_wal(cursor: Any) -> None:
    """PRAGMA journal_mode = WAL, retried while another process is switching the same new file:
    SQLite answers "database is locked" at once then, without waiting for the busy timeout."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    pause = 0.002
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.1)


def _set_postgresql_lock_timeout(dbapi_connection: Any, connection_record: Any) -> None:
    # A lock held past the busy timeout is DatabaseBusy, as on SQLite (not a wait for ever).
    with dbapi_connection.cursor() as cursor:
        cursor.execute(f"SET lock_timeout = {BUSY_TIMEOUT_MS}")
    dbapi_connection.commit()


def _sqlite_begin(conn: Any) -> None:
    mode = "IMMEDIATE" if conn.get_execution_options().get("rfconsole_write") else "DEFERRED"
    conn.exec_driver_sql(f"BEGIN {mode}")


def make_engine(url: str | None = None, *, create: bool = True) -> Engine:
    """Open (and, with `create`, initialise) the database at `url`.

    On SQLite the parent folder is made, every connection gets WAL,
    synchronous=NORMAL, foreign keys and a busy timeout, and the schema version
    is checked. Raises SchemaVersionError for a database of another version, and
    StoreError with one sentence for anything else that stops it opening (a
    missing driver, a file that is not a database, a folder that cannot be made).
    """
    url = resolve_db_url(url)
    try:
        return _open_engine(url, create)
    except StoreError:
        raise
    except (OSError, ImportError, SQLAlchemyError) as exc:
        raise StoreError(
            f"Cannot open the database at {describe_url(url)}: {_reason(exc)}; "
            f"check --db or RFCONSOLE_DB."
        ) from exc


def _open_engine(url: str, create: bool) -> Engine:
    path = sqlite_file(url)
    if path is not None:
        if create:
            path.parent.mkdir(parents=True, exist_ok=True)
        elif not path.exists():
            raise InvalidError(f"There is no database at {path}; start an experiment first.")
        refuse_foreign_sqlite(path)  # before any connection: ours switch the file to WAL
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000},
        )
        event.listen(engine, "connect", _set_sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
    elif make_url(url).get_backend_name() == "postgresql":
        # Reads are snapshots (repeatable read), as on SQLite; `write_engine`
        # switches writes to read committed. A server that accepts the connection
        # but never answers is given up on after CONNECT_TIMEOUT_SECONDS (unless the
        # URL sets its own connect_timeout), not waited for for ever.
        given = "connect_timeout" in make_url(url).query
        engine = create_engine(
            url, pool_pre_ping=True, isolation_level="REPEATABLE READ", json_serializer=_json_text,
            connect_args={} if given else {"connect_timeout": CONNECT_TIMEOUT_SECONDS},
        )
        event.listen(engine, "connect", _set_postgresql_lock_timeout)
    else:
        engine = create_engine(url, pool_pre_ping=True)
    event.listen(engine, "before_cursor_execute", _refuse_nul)
    event.listen(engine, "handle_error", classify)
    try:
        ensure_schema(engine, create=create)
    except Exception:
        engine.dispose()
        raise
    return engine


def _refuse_nul(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
                executemany: bool) -> None:
    """Refuse text holding a NUL character, on every backend: PostgreSQL can neither store
    nor compare it, and SQLite should not accept what PostgreSQL refuses."""
    rows = parameters if executemany else [parameters]
    for row in rows:
        refuse_nul_text(row.values() if isinstance(row, dict) else row or ())


def refuse_nul_text(values: Iterable[Any]) -> None:
    """InvalidError when a value is text holding a NUL character (for statements run on a
    driver's own cursor, which the engine's listener does not see)."""
    for value in values:
        if isinstance(value, str) and "\x00" in value:
            raise InvalidError("Text holding a NUL character (\\x00) cannot be stored or looked up; remove it.")


def _reason(exc: BaseException) -> str:
    """The driver's own words, without SQLAlchemy's wrapping and links."""
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        exc = exc.orig
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = str(exc).strip()
    return text.splitlines()[0].rstrip(".") if text else type(exc).__name__


def write_engine(engine: Engine) -> Engine:
    """The same engine and pool, for write transactions.

    On SQLite they take the write lock at BEGIN. On PostgreSQL they run at read
    committed: an IC request that waited for a run's row lock then reads what
    the previous holder committed (at repeatable read it would fail instead).
    """
    if engine.dialect.name == "postgresql":
        return engine.execution_options(rfconsole_write=True, isolation_level="READ COMMITTED")
    return engine.execution_options(rfconsole_write=True)


def _json_text(value: Any) -> str:
    """JSON for PostgreSQL's json type, which has no NaN or Infinity: those are stored as null."""
    try:
        return json.dumps(value, allow_nan=False)
    except ValueError:
        return json.dumps(_finite(value), allow_nan=False)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


def ensure_schema(engine: Engine, *, create: bool = True) -> None:
    """Create the tables of a new database, or check (and migrate) the version of an existing one."""
    tables = set(inspect(engine).get_table_names())
    if Meta.__tablename__ not in tables:
        _refuse_foreign_tables(engine, tables)
        if not create:
            raise SchemaVersionError(
                f"The database at {describe_url(engine.url)} holds no rfconsole data yet; start an "
                f"experiment first or point --db at another database."
            )
        _create_schema(engine)
    found = _schema_version(engine)
    if found != str(SCHEMA_VERSION) and can_migrate(found):
        migrate(write_engine(engine))
        found = _schema_version(engine)
    if found != str(SCHEMA_VERSION):
        raise SchemaVersionError(
            f"The database at {describe_url(engine.url)} has schema version {found}, but this "
            f"rfconsole reads version {SCHEMA_VERSION}; use the rfconsole that wrote it or point "
            f"--db at a new file."
        )


def _refuse_foreign_tables(engine: Engine, tables: set[str]) -> None:
    if tables:
        raise SchemaVersionError(
            f"The database at {describe_url(engine.url)} was not made by rfconsole (it has no "
            f"{Meta.__tablename__} table); point --db at another file."
        )


# PostgreSQL: one creator of the tables at a time (a transaction-level advisory lock).
_CREATE_LOCK_KEY = 0x7266636F6E736F6C  # "rfconsol"


def _create_schema(engine: Engine) -> None:
    """The tables and the version row in one write transaction, made by one process only.

    On SQLite the transaction begins IMMEDIATE, on PostgreSQL it takes an advisory
    lock, so a second process creating the same new database waits, then finds
    the schema complete (never tables without a version).
    """
    with write_engine(engine).begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CREATE_LOCK_KEY})
        tables = set(inspect(conn).get_table_names())
        if Meta.__tablename__ in tables:
            return  # another process made it meanwhile
        _refuse_foreign_tables(engine, tables)
        SQLModel.metadata.create_all(conn)
        conn.execute(
            insert(Meta.__table__).values(  # type: ignore[attr-defined]
                key="schema_version", value=str(SCHEMA_VERSION)
            )
        )


def _schema_version(engine: Engine) -> str | None:
    with Session(engine) as session:
        row = session.get(Meta, "schema_version")
        return row.value if row is not None else None
