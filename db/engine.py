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

import os
from pathlib import Path
from typing import Any

from platformdirs import user_data_dir
from sqlalchemy import Engine, event, inspect
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlmodel import Session, SQLModel, create_engine

from .errors import InvalidError, SchemaVersionError, StoreError
from .migrate import can_migrate, migrate
from .models import SCHEMA_VERSION, Meta

BUSY_TIMEOUT_MS = 30_000
DB_ENV_VAR = "RFCONSOLE_DB"


def default_db_path() -> Path:
    """The database file used when neither --db nor RFCONSOLE_DB says otherwise."""
    return Path(user_data_dir("rfconsole", appauthor=False)) / "rfconsole.db"


def resolve_db_url(path_or_url: str | os.PathLike[str] | None = None) -> str:
    """Turn a --db value (a path or an SQLAlchemy URL), RFCONSOLE_DB, or nothing into a URL."""
    value = os.fspath(path_or_url) if path_or_url is not None else os.environ.get(DB_ENV_VAR)
    if not value:
        return f"sqlite:///{default_db_path()}"
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


def sqlite_file(url: str) -> Path | None:
    """The file behind an SQLite URL, or None for other databases and :memory:."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return None
    if parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def _set_sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    # Driver-level implicit transactions off: the "begin" listener issues BEGIN.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


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
    url = resolve_db_url(url) if url is None or "://" not in url else url
    try:
        return _open_engine(url, create)
    except StoreError:
        raise
    except (OSError, ImportError, SQLAlchemyError) as exc:
        raise StoreError(
            f"Cannot open the database at {_describe_url(url)}: {_reason(exc)}; "
            f"check --db or RFCONSOLE_DB."
        ) from exc


def _open_engine(url: str, create: bool) -> Engine:
    path = sqlite_file(url)
    if path is not None:
        if create:
            path.parent.mkdir(parents=True, exist_ok=True)
        elif not path.exists():
            raise InvalidError(f"There is no database at {path}; start an experiment first.")
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000},
        )
        event.listen(engine, "connect", _set_sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
    else:
        engine = create_engine(url, pool_pre_ping=True)
    try:
        ensure_schema(engine, create=create)
    except Exception:
        engine.dispose()
        raise
    return engine


def _describe_url(url: str | URL) -> str:
    """The SQLite file, or the URL with its password hidden."""
    try:
        path = sqlite_file(str(url))
        return str(path) if path is not None else make_url(url).render_as_string(hide_password=True)
    except SQLAlchemyError:
        return "the given URL"  # unparseable: never echo it, it may hold a password


def _reason(exc: BaseException) -> str:
    """The driver's own words, without SQLAlchemy's wrapping and links."""
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        exc = exc.orig
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = str(exc).strip()
    return text.splitlines()[0].rstrip(".") if text else type(exc).__name__


def write_engine(engine: Engine) -> Engine:
    """The same engine and pool, with write transactions that lock at BEGIN."""
    return engine.execution_options(rfconsole_write=True)


def _schema_version(engine: Engine) -> str | None:
    with Session(engine) as session:
        row = session.get(Meta, "schema_version")
        return row.value if row is not None else None


def ensure_schema(engine: Engine, *, create: bool = True) -> None:
    """Create the tables of a new database, or check (and migrate) the version of an existing one."""
    where = _describe_url(engine.url)
    tables = set(inspect(engine).get_table_names())
    if Meta.__tablename__ not in tables:
        if tables and "runs" in tables:
            raise SchemaVersionError(
                f"The database at {where} was not made by rfconsole (it has no "
                f"{Meta.__tablename__} table); point --db at another file."
            )
        if not create:
            raise SchemaVersionError(
                f"The database at {where} holds no rfconsole data yet; start an experiment "
                f"first or point --db at another database."
            )
        SQLModel.metadata.create_all(write_engine(engine))
        with Session(write_engine(engine)) as session:
            if session.get(Meta, "schema_version") is None:
                session.add(Meta(key="schema_version", value=str(SCHEMA_VERSION)))
            session.commit()
        return
    found = _schema_version(engine)
    if found != str(SCHEMA_VERSION) and can_migrate(found):
        migrate(write_engine(engine))
        found = _schema_version(engine)
    if found != str(SCHEMA_VERSION):
        raise SchemaVersionError(
            f"The database at {where} has schema version {found}, but this rfconsole "
            f"reads version {SCHEMA_VERSION}; use the rfconsole that wrote it or point "
            f"--db at a new file."
        )

