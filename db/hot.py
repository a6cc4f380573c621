"""The dispatcher's hottest statements, on SQLite through one raw sqlite3 connection per thread.

Reading one run (get-run) and queuing a stop or resume (stop-run, resume-run)
take a few tens of microseconds in SQLite itself but several times that through
SQLAlchemy: a pooled connection's checkout, the statement's execution context,
a BEGIN for a single SELECT, an ORM session around three Core statements. Here
the statements are compiled once from the same Core statements as the general
path (`listing`, `ic_ops`), values are bound with the columns' own processors,
and they run on a connection that each thread opens once with the engine's
settings and listeners (WAL, busy timeout, foreign keys):

    hot = store.hot                       # made on first use, closed by store.close()
    found = hot.run_row(3)                # (row in listing.RUN_FIELDS order, experiment name) or None
    op = hot.request_op("STOP", run_id=3, origin="http:127.0.0.1")   # an ICOpRead

A single-row read runs without BEGIN (SQLite reads one statement in one
snapshot). A request takes the write lock at BEGIN IMMEDIATE, checks the same
rules as `ic_ops` (`check_allowed`, `already_pending`) and commits. A driver
error is a `DatabaseBusy`/`DatabaseReadOnly` as on the general path. On other
databases every call takes the general path.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert

from . import ic_ops, listing
from .driver_errors import refusal_for
from .errors import InvalidError, NotFoundError
from .models import ICOpRead

if TYPE_CHECKING:
    from .store import Store

# The ops queued here: no clone to create, no run to change.
SIMPLE_OPS = frozenset({"STOP", "RESUME"})

_RUN_STATE_SQL = (
    "SELECT runs.experiment_id, runs.status, experiments.name, experiments.status "
    "FROM runs JOIN experiments ON runs.experiment_id = experiments.id WHERE runs.run_id = ?"
)
_PENDING_SQL = (
    "SELECT ic_id FROM interactive_control "
    "WHERE run_id = ? AND operation = ? AND status = 'PENDING' ORDER BY ic_id LIMIT 1"
)
_OP_COLUMNS = ("run_id", "experiment_id", "operation", "config_leaf", "warm_start", "status", "error",
               "new_run_id", "origin", "created_at", "claimed_at", "processed_at")


class HotPaths:
    """The hot statements of one store; safe to share between threads."""

    def __init__(self, store: Store) -> None:
        self._store = store
        engine = store.engine
        self._sqlite = engine.dialect.name == "sqlite"
        self._local = threading.local()
        self._lock = threading.Lock()
        self._opened: list[Any] = []  # the pool's (detached) connection wrappers
        self._closed = False
        if not self._sqlite:
            return
        dialect = engine.dialect
        self._one_run_sql = str(listing.ONE_RUN.compile(dialect=dialect))
        table = ic_ops.OPS_TABLE
        self._insert_sql = str(insert(table).values({name: None for name in _OP_COLUMNS})
                               .compile(dialect=dialect))
        self._binders: list[Callable[[Any], Any] | None] = [
            table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in _OP_COLUMNS]

    def run_row(self, run_id: int) -> tuple[listing.RunRow, str] | None:
        """(the run's row in `listing.RUN_FIELDS` order, its experiment's name), or None."""
        if not self._sqlite:
            return listing.fetch_run_row(self._store.engine, run_id)
        conn = self._connection()
        try:
            row = conn.execute(self._one_run_sql, (run_id,)).fetchone()
        except sqlite3.Error as exc:
            raise self._refusal(exc) from exc
        return None if row is None else (row[:-1], row[-1])

    def request_op(self, operation: str, *, run_id: int, origin: str) -> ICOpRead:
        """Queue a STOP or RESUME of a run (the rules of `ic_ops.request_op`), committed."""
        if not self._sqlite or operation not in SIMPLE_OPS:
            with self._store.write() as session:
                return ic_ops.request_op(session, operation, run_id=run_id, origin=origin)
        ic_ops.check_run_id(run_id)
        if "\x00" in origin:
            raise InvalidError("Text holding a NUL character (\\x00) cannot be stored or looked up; remove it.")
        conn = self._connection()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                op = self._insert_op(conn, operation, run_id, origin)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.rollback()
            raise self._refusal(exc) from exc
        return op

    def _insert_op(self, conn: sqlite3.Connection, operation: str, run_id: int, origin: str) -> ICOpRead:
        found = conn.execute(_RUN_STATE_SQL, (run_id,)).fetchone()
        if found is None:
            raise NotFoundError(f"There is no run with id {run_id}.")
        experiment_id, run_status, experiment_name, experiment_status = found
        ic_ops.check_allowed(operation, run_id, run_status, experiment_name, experiment_status)
        pending = conn.execute(_PENDING_SQL, (run_id, operation)).fetchone()
        if pending is not None:
            raise ic_ops.already_pending(operation, run_id, pending[0])
        values = ic_ops.new_op_values(run_id, experiment_id, operation, origin)
        values.update(config_leaf=None, warm_start=False, new_run_id=None)
        bound = [value if bind is None else bind(value)
                 for bind, value in zip(self._binders, (values[name] for name in _OP_COLUMNS), strict=True)]
        cursor = conn.execute(self._insert_sql, bound)
        assert cursor.lastrowid is not None
        return ICOpRead(ic_id=cursor.lastrowid, **values)

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        # A connection made by the engine's pool (so with every setting and listener of the
        # engine), then detached from it: it belongs to this thread until close().
        pooled = self._store.engine.raw_connection()
        pooled.detach()
        with self._lock:
            if self._closed:
                pooled.close()
                raise RuntimeError("This store is closed.")
            self._opened.append(pooled)
        made: sqlite3.Connection = pooled.dbapi_connection  # type: ignore[assignment]
        self._local.conn = made
        return made

    def _refusal(self, exc: sqlite3.Error) -> Exception:
        typed = refusal_for(exc, self._store.engine.url)
        if typed is not None:
            return typed
        return RuntimeError(f"The database refused a statement: {exc}")

    def close(self) -> None:
        """Close every thread's connection (the threads must be done with this store)."""
        with self._lock:
            self._closed = True
            opened, self._opened = self._opened, []
        for pooled in opened:
            pooled.close()
