"""The dispatcher's fast reads of runs and experiments, as named functions over Core statements.

The run listing is the hot path (10,000 runs), so runs are read with Core
SELECTs built once (building a 20-column SELECT costs more than running it)
and never become ORM objects. JSON columns come back as their stored text, so
a caller can embed them without parsing them.

    with listing.snapshot(store.engine) as snap:       # one connection, one snapshot
        current = snap.experiment(None)                # ExperimentSummary or None
        pairs = snap.versions(current.id, None, None, 0)   # [(run_id, updated_at text), ...]
        rows = snap.rows_by_id([3, 7])                 # full rows, in RUN_FIELDS order
        recent = snap.versions_since(current.id, since)   # the pairs of runs written since

A run row is a tuple in `RUN_FIELDS` order (its last field is `updated_at`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any, NamedTuple

from sqlalchemy import Engine, Select, Text, bindparam, cast, func, select
from sqlalchemy.engine import Connection, Dialect

from .driver_errors import refusal_for
from .engine import refuse_nul_text
from .models import Experiment, Run

RUNS = Run.__table__.c  # type: ignore[attr-defined]
EXPERIMENTS = Experiment.__table__.c  # type: ignore[attr-defined]

# A listing connection's SQLite page cache (KiB): 10,000 runs fit, so the
# (run_id, updated_at) scan does not go back to the file.
SQLITE_CACHE_KIB = 16 * 1024
# Run ids per IN (...) lookup: under every database's parameter limit.
ID_BATCH = 500
# Full rows fetched at a time when a whole listing is encoded.
FETCH_BATCH = 1000

_JSON_FIELDS = ("metrics", "config_leaf", "flattened_config")
_STAMP_FIELDS = ("created_at", "updated_at")
RUN_FIELDS = (
    "run_id", "run_name", "status", "current_chunk", "num_chunks", "current_epoch", "num_epochs",
    "num_epochs_completed", "completed_steps", "total_steps", "num_chunks_visited",
    "metrics", "config_leaf", "flattened_config", "source", "parent_run_id", "warm_start",
    "ended_by", "error", "metric_run_id", "created_at", "updated_at",
)
# JSON columns as their stored text, timestamps as text (parsing 10,000 of each is slow).
_RUN_COLUMNS = tuple(
    cast(RUNS[name], Text).label(name) if name in _JSON_FIELDS + _STAMP_FIELDS else RUNS[name]
    for name in RUN_FIELDS
)

RunRow = Sequence[Any]


class ExperimentSummary(NamedTuple):
    id: int
    name: str
    revision: int
    status: str
    experiment_path: str


_SUMMARY = (EXPERIMENTS.id, EXPERIMENTS.name, EXPERIMENTS.revision, EXPERIMENTS.status,
            EXPERIMENTS.experiment_path)
_NAMED_EXPERIMENT = select(*_SUMMARY).where(EXPERIMENTS.name == bindparam("wanted_name"))
# The running experiment first (the latest of them), else the latest one, in one query
# (a scan of the experiments table, which holds one row per experiment: few).
_CURRENT_EXPERIMENT = (
    select(*_SUMMARY).order_by((EXPERIMENTS.status == "running").desc(), EXPERIMENTS.id.desc()).limit(1)
)
ONE_RUN = (
    select(*_RUN_COLUMNS, EXPERIMENTS.name)
    .join_from(Run.__table__, Experiment.__table__,  # type: ignore[attr-defined]
               RUNS.experiment_id == EXPERIMENTS.id)
    .where(RUNS.run_id == bindparam("wanted_run_id"))
)
_RUNS_BY_ID = select(*_RUN_COLUMNS).where(RUNS.run_id.in_(bindparam("wanted_ids", expanding=True)))
_VERSIONS_SINCE = (
    select(RUNS.run_id, cast(RUNS.updated_at, Text))
    .where(RUNS.experiment_id == bindparam("wanted_experiment_id"),
           RUNS.updated_at >= bindparam("since", type_=RUNS.updated_at.type))
    .order_by(RUNS.run_id)
)
_COUNT_RUNS = (select(func.count()).select_from(Run.__table__)  # type: ignore[attr-defined]
               .where(RUNS.experiment_id == bindparam("wanted_experiment_id")))
_RUN_EXPERIMENT = select(RUNS.experiment_id).where(RUNS.run_id == bindparam("wanted_run_id"))
_LOCATION = select(EXPERIMENTS.name, EXPERIMENTS.experiment_path).where(
    EXPERIMENTS.id == bindparam("wanted_experiment_id"))


class ListingSnapshot:
    """Reads on one connection, so that they all see the same snapshot of the database."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._sqlite = conn.dialect.name == "sqlite"

    def _driver(self, key: str, statement: Select[Any], values: dict[str, Any]) -> list[Any]:
        """The rows of a statement compiled once, run on the driver's own cursor (SQLite: a
        tenth of SQLAlchemy's cost per statement); a busy or read-only database is refused
        as on the general path."""
        sql, order, defaults = _compiled(key, statement, self._conn.dialect)
        merged = {**defaults, **values}
        refuse_nul_text(merged.values())
        cursor = self._conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            found: list[Any] = cursor.execute(sql, [merged[name] for name in order]).fetchall()
        except sqlite3.Error as exc:
            refusal = refusal_for(exc, self._conn.engine.url)
            if refusal is not None:
                raise refusal from exc
            raise
        finally:
            cursor.close()
        return found

    def experiment(self, name: str | None) -> ExperimentSummary | None:
        """The named experiment, or the current one (the running one, else the latest)."""
        if self._sqlite:  # asked on every request, 304s included: the driver's cursor
            if name is not None:
                found = self._driver("named_experiment", _NAMED_EXPERIMENT, {"wanted_name": name})
            else:
                found = self._driver("current_experiment", _CURRENT_EXPERIMENT, {})
            row = found[0] if found else None
        elif name is not None:
            row = self._conn.execute(_NAMED_EXPERIMENT, {"wanted_name": name}).first()
        else:
            row = self._conn.execute(_CURRENT_EXPERIMENT).first()
        return None if row is None else ExperimentSummary(*row)

    @staticmethod
    def _where(experiment_id: int, statuses: Sequence[str] | None) -> list[Any]:
        where = [RUNS.experiment_id == experiment_id]
        if statuses:
            where.append(RUNS.status.in_(list(statuses)))
        return where

    def count(self, experiment_id: int, statuses: Sequence[str] | None) -> int:
        if self._sqlite and not statuses:
            return int(self._driver("count", _COUNT_RUNS, {"wanted_experiment_id": experiment_id})[0][0])
        where = self._where(experiment_id, statuses)
        return int(self._conn.execute(select(func.count()).where(*where)).scalar_one())

    def versions(self, experiment_id: int, statuses: Sequence[str] | None, limit: int | None,
                 offset: int) -> Sequence[Sequence[Any]]:
        """(run_id, updated_at text) of one page of runs, in run id order."""
        page = (select(RUNS.run_id, cast(RUNS.updated_at, Text))
                .where(*self._where(experiment_id, statuses)).order_by(RUNS.run_id))
        if limit is not None:
            page = page.limit(limit)
        if offset:
            page = page.offset(offset)
        return self._conn.execute(page).all()

    def page_rows(self, experiment_id: int, statuses: Sequence[str] | None, limit: int | None,
                  offset: int) -> Sequence[RunRow]:
        """Full rows of one page of runs, in run id order (one scan; fetched at once, which is
        much faster than row by row)."""
        page = (select(*_RUN_COLUMNS).where(*self._where(experiment_id, statuses))
                .order_by(RUNS.run_id).limit(limit).offset(offset or None))
        return _driver_rows(self._conn, page)

    def versions_since(self, experiment_id: int, since: datetime) -> Sequence[Sequence[Any]]:
        """(run_id, updated_at text) of the experiment's runs written at `since` or later, in
        run id order (an index range scan of runs (experiment_id, updated_at): only those rows)."""
        if not self._sqlite:
            return self._conn.execute(_VERSIONS_SINCE, {"wanted_experiment_id": experiment_id,
                                                        "since": since}).all()
        # The stamp is bound as SQLite stores it, by the column's own processor.
        stamp = RUNS.updated_at.type.dialect_impl(self._conn.dialect).bind_processor(self._conn.dialect)
        return self._driver("versions_since", _VERSIONS_SINCE,
                            {"wanted_experiment_id": experiment_id, "since": stamp(since) if stamp else since})

    def page_batches(self, experiment_id: int, statuses: Sequence[str] | None, limit: int | None,
                     offset: int) -> Iterator[list[RunRow]]:
        """page_rows, FETCH_BATCH rows at a time."""
        page = (select(*_RUN_COLUMNS).where(*self._where(experiment_id, statuses))
                .order_by(RUNS.run_id).limit(limit).offset(offset or None))
        return _driver_batches(self._conn, page)

    def rows_by_id(self, run_ids: Sequence[int]) -> list[RunRow]:
        """Full rows of these runs (any order)."""
        found: list[RunRow] = []
        for start in range(0, len(run_ids), ID_BATCH):
            batch = {"wanted_ids": list(run_ids[start:start + ID_BATCH])}
            found.extend(self._conn.execute(_RUNS_BY_ID, batch).all())
        return found


def _driver_rows(conn: Connection, statement: Select[Any]) -> Sequence[RunRow]:
    """All rows of `statement` as the driver's own tuples: for 10,000 runs this is about a third
    faster than SQLAlchemy's rows, whose type processing these text columns do not need."""
    return [row for batch in _driver_batches(conn, statement) for row in batch]


def _driver_batches(conn: Connection, statement: Select[Any]) -> Iterator[list[RunRow]]:
    """The rows of `statement` as the driver's tuples, FETCH_BATCH at a time (a caller that
    encodes them batch by batch never holds all 10,000 full rows at once)."""
    compiled = statement.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    params = compiled.construct_params()
    for name, bind in compiled.binds.items():  # the columns' own conversions (e.g. datetimes to text)
        convert = bind.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
        if convert is not None and name in params:
            params[name] = convert(params[name])
    if compiled.positiontup is not None:  # qmark / format drivers: a sequence, in order
        parameters: Any = tuple(params[name] for name in compiled.positiontup)
    else:
        parameters = params
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(compiled.string, parameters)
        while True:
            batch: list[RunRow] = cursor.fetchmany(FETCH_BATCH)
            if not batch:
                return
            yield batch
    finally:
        cursor.close()


# (name, dialect) -> (SQL, positional parameter names, the values of its literal parameters)
_COMPILED: dict[tuple[str, str], tuple[str, tuple[str, ...], dict[str, Any]]] = {}


def _compiled(key: str, statement: Select[Any], dialect: Dialect) -> tuple[str, tuple[str, ...], dict[str, Any]]:
    """A statement compiled once per dialect, for a driver whose parameters are positional."""
    made = _COMPILED.get((key, dialect.name))
    if made is None:
        compiled = statement.compile(dialect=dialect)
        defaults = {name: value for name, value in compiled.params.items() if value is not None}
        for name, bind in compiled.binds.items():  # the literals' own conversions
            convert = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if convert is not None and name in defaults:
                defaults[name] = convert(defaults[name])
        made = (compiled.string, tuple(compiled.positiontup or ()), defaults)
        _COMPILED[(key, dialect.name)] = made
    return made


def versions_since_sql(dialect: Dialect) -> str:
    """The SQL of `ListingSnapshot.versions_since` on SQLite (to check its query plan)."""
    return _compiled("versions_since", _VERSIONS_SINCE, dialect)[0]


def stamp_time(stored: str) -> datetime:
    """A run's `updated_at` as read here (text: SQLite's "2026-01-02 03:04:05.678901", naive
    UTC, or PostgreSQL's "... +00") as an aware UTC datetime."""
    if stored[-3] in "+-" and stored[-2:].isdigit():  # Python 3.10 wants "+00:00"
        stored += ":00"
    parsed = datetime.fromisoformat(stored)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


@contextmanager
def snapshot(engine: Engine) -> Iterator[ListingSnapshot]:
    """A `ListingSnapshot` on a pooled connection whose SQLite page cache holds a large listing.

    Its reads run in one transaction (on SQLite a deferred BEGIN, issued here since most of
    them go straight to the driver), so they all see one snapshot of the database."""
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            info = conn.connection.info
            if not info.get("rfconsole_listing_cache"):
                conn.exec_driver_sql(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
                info["rfconsole_listing_cache"] = True
            if not conn.in_transaction():
                conn.begin()
        yield ListingSnapshot(conn)


def fetch_run_row(engine: Engine, run_id: int) -> tuple[RunRow, str] | None:
    """(the run's row, its experiment's name), or None for an unknown run."""
    with engine.connect() as conn:
        row = conn.execute(ONE_RUN, {"wanted_run_id": run_id}).first()
    return None if row is None else (row[:-1], row[-1])


def run_experiment_id(engine: Engine, run_id: int) -> int | None:
    """The experiment of a run, or None for an unknown run."""
    with engine.connect() as conn:
        found: int | None = conn.execute(_RUN_EXPERIMENT, {"wanted_run_id": run_id}).scalar()
    return found


def experiment_location(engine: Engine, experiment_id: int) -> tuple[str, str] | None:
    """(name, experiment_path) of an experiment, or None when there is no such experiment."""
    with engine.connect() as conn:
        row = conn.execute(_LOCATION, {"wanted_experiment_id": experiment_id}).first()
    return None if row is None else (row[0], row[1])
