"""The per-chunk writes, as plain SQL statements on the data layer's tables.

After every chunk the controller writes the run's progress and latest metrics,
appends the metric history and bumps the experiment's revision, in the same
transaction that claims the pending ops. `runs.update_run` does the same
through the ORM (load the row, flush it, bump the revision) at about 1 ms a
call; these statements do it in a fraction of that, which is what keeps the
bookkeeping within a couple of milliseconds per chunk. The columns written are
exactly those `update_run` would write, `updated_at` included.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rfconsole.db.models import Experiment, InteractiveControl, Metric, Run, utcnow
from sqlalchemy import Connection, bindparam, insert, select, update

RUNS = Run.__table__
EXPERIMENTS = Experiment.__table__
METRICS = Metric.__table__
OPS = InteractiveControl.__table__

# Built once: SQLAlchemy then finds the compiled form in its cache by identity.
_ANY_PENDING = (
    select(OPS.c.ic_id)
    .where(OPS.c.experiment_id == bindparam("experiment"), OPS.c.status == "PENDING")
    .limit(1)
)
_UPDATE_RUN = update(RUNS).where(RUNS.c.run_id == bindparam("target_run_id"))
_START_RUN = (
    update(RUNS)
    .where(RUNS.c.run_id == bindparam("target_run_id"), RUNS.c.status == "NEW")
    .values(status="ONGOING", updated_at=bindparam("now"))
)
_INSERT_METRICS = insert(METRICS)
_BUMP_REVISION = (
    update(EXPERIMENTS)
    .where(EXPERIMENTS.c.id == bindparam("experiment"))
    .values(revision=EXPERIMENTS.c.revision + 1)
)


def has_pending_ops(connection: Connection, experiment_id: int) -> bool:
    """One indexed lookup: is any op of the experiment still PENDING?"""
    return connection.execute(_ANY_PENDING, {"experiment": experiment_id}).first() is not None


def write_progress(connection: Connection, run_id: int, fields: Mapping[str, Any]) -> None:
    """Set some of a run's columns and stamp updated_at (the caller bumps the revision)."""
    connection.execute(_UPDATE_RUN, {**fields, "updated_at": utcnow(), "target_run_id": run_id})


def start_run(connection: Connection, run_id: int) -> bool:
    """NEW -> ONGOING, only if the run is still NEW (a delete may have made it KILLED)."""
    result = connection.execute(_START_RUN, {"target_run_id": run_id, "now": utcnow()})
    return result.rowcount == 1


def append_history(connection: Connection, rows: list[dict[str, Any]]) -> None:
    """Insert metric points: dicts with run_id, epoch, chunk, step, name, value."""
    if rows:
        now = utcnow()
        connection.execute(_INSERT_METRICS, [{**row, "timestamp": now} for row in rows])


def bump_revision(connection: Connection, experiment_id: int) -> None:
    connection.execute(_BUMP_REVISION, {"experiment": experiment_id})
