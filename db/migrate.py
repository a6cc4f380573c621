"""Schema migrations, applied when a database of an older schema version is opened.

Each step runs in one write transaction that first re-reads the version under
a lock (SQLite: BEGIN IMMEDIATE; PostgreSQL: the version row FOR UPDATE), so
two processes opening the same old database at once migrate it exactly once.

Version 1 -> 2: 64-bit ids on PostgreSQL (SQLite's INTEGER already is 64-bit),
`experiments.controller_seen_at` (the controller's heartbeat) and
`runs.metric_run_id` (the run's id in the metrics tracker).

Version 2 -> 3: the index on runs (experiment_id, updated_at), so that "the
runs written since" (a live listing's refresh) reads only the changed rows.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection, Engine, String, text

from .models import RUNS_UPDATED_INDEX, SCHEMA_VERSION, Run, UTCDateTime

# Per table, the id columns that schema 2 makes 64-bit.
_ID_COLUMNS = {
    "experiments": ("id",),
    "runs": ("run_id", "experiment_id", "parent_run_id"),
    "interactive_control": ("ic_id", "run_id", "experiment_id", "new_run_id"),
    "metrics": ("id", "run_id"),
}
# The serial columns whose sequences must count past 2**31 on PostgreSQL.
_SERIALS = (("experiments", "id"), ("runs", "run_id"), ("interactive_control", "ic_id"), ("metrics", "id"))


def _v1_to_v2(conn: Connection) -> None:
    dialect = conn.dialect
    seen_type = UTCDateTime().compile(dialect=dialect)
    string_type = String().compile(dialect=dialect)
    conn.exec_driver_sql(f"ALTER TABLE experiments ADD COLUMN controller_seen_at {seen_type}")
    conn.exec_driver_sql(f"ALTER TABLE runs ADD COLUMN metric_run_id {string_type}")
    if dialect.name == "postgresql":
        for table, columns in _ID_COLUMNS.items():
            changes = ", ".join(f"ALTER COLUMN {column} TYPE BIGINT" for column in columns)
            conn.exec_driver_sql(f"ALTER TABLE {table} {changes}")
        for table, column in _SERIALS:
            sequence = conn.execute(
                text("SELECT pg_get_serial_sequence(:t, :c)"), {"t": table, "c": column}
            ).scalar()
            if sequence:
                conn.exec_driver_sql(f"ALTER SEQUENCE {sequence} AS BIGINT")


def _v2_to_v3(conn: Connection) -> None:
    indexes = Run.__table__.indexes  # type: ignore[attr-defined]
    wanted = next(index for index in indexes if index.name == RUNS_UPDATED_INDEX)
    wanted.create(conn, checkfirst=True)


# Version N -> the step that makes it version N + 1.
STEPS: dict[int, Callable[[Connection], None]] = {1: _v1_to_v2, 2: _v2_to_v3}


def _locked_version(conn: Connection) -> str | None:
    lock = " FOR UPDATE" if conn.dialect.name == "postgresql" else ""
    value = conn.execute(
        text(f"SELECT value FROM rfconsole_meta WHERE key = 'schema_version'{lock}")
    ).scalar()
    return None if value is None else str(value)


def can_migrate(found: str | None) -> bool:
    """True when `found` is an older version this code knows how to bring up to date."""
    return found is not None and found.isdigit() and int(found) in STEPS


def migrate(writer: Engine) -> None:
    """Bring the database up to SCHEMA_VERSION, one step per transaction.

    `writer` must be a write engine (on SQLite its transactions BEGIN IMMEDIATE).
    A version already reached by another process is left alone.
    """
    while True:
        with writer.begin() as conn:
            found = _locked_version(conn)
            if found is None or not can_migrate(found) or int(found) >= SCHEMA_VERSION:
                return
            STEPS[int(found)](conn)
            conn.execute(
                text("UPDATE rfconsole_meta SET value = :v WHERE key = 'schema_version'"),
                {"v": str(int(found) + 1)},
            )
