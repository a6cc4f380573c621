"""The controller's fast paths: the per-chunk write, the pending-ops read, the claim.

After every chunk the controller writes the run's progress and latest metrics
and appends the metric history, in the same transaction that reads the pending
ops. The statements are built once and run on the transaction's connection
(no ORM objects), which keeps the bookkeeping within a fraction of a
millisecond per chunk. Run rows change only through `runs.write_run`, which
stamps `updated_at` and bumps the experiment's revision once per transaction.

    with store.write() as session:
        pending = progress.pending_ops(session, experiment_id)
        progress.record_chunks(session, experiment_id, [ChunkRecord(run_id, fields, points)])
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Table, bindparam, insert, select, update
from sqlmodel import Session

from .configs import flatten
from .models import ACTIVE_RUN_STATUSES, ICOpRead, InteractiveControl, Metric, Run, RunRead, utcnow
from .runs import write_run

_RUNS: Table = Run.__table__  # type: ignore[attr-defined]
_METRICS: Table = Metric.__table__  # type: ignore[attr-defined]
_OPS: Table = InteractiveControl.__table__  # type: ignore[attr-defined]

_PENDING = (
    select(_OPS)
    .where(_OPS.c.experiment_id == bindparam("experiment"), _OPS.c.status == "PENDING")
    .order_by(_OPS.c.ic_id)
)
_CLAIM = (
    update(_OPS)
    .where(_OPS.c.ic_id.in_(bindparam("ids", expanding=True)), _OPS.c.claimed_at.is_(None))
    .values(claimed_at=bindparam("now"))
)
_INSERT_METRICS = insert(_METRICS)
_RUN_IDS = (
    select(_RUNS.c.run_id, _RUNS.c.status)
    .where(_RUNS.c.experiment_id == bindparam("experiment"))
    .order_by(_RUNS.c.run_id)
)
_RUNS_OF = (
    select(_RUNS).where(_RUNS.c.experiment_id == bindparam("experiment")).order_by(_RUNS.c.run_id)
)
_ONE_RUN = select(_RUNS).where(_RUNS.c.run_id == bindparam("target_run_id"))


@dataclass
class ChunkRecord:
    """One finished chunk: the run columns to set and the metric points to append.

    `points` are dicts with epoch, chunk, step, name, value. With `only_active`
    the columns are set only while the run is NEW or ONGOING (a run that a
    request made KILLED meanwhile keeps its status) and the points are kept
    only then.
    """

    run_id: int
    fields: Mapping[str, Any]
    points: Sequence[Mapping[str, Any]] = field(default_factory=list)
    only_active: bool = False


def _connection(session: Session) -> Connection:
    return session.connection()


def pending_ops(session: Session, experiment_id: int) -> list[ICOpRead]:
    """The experiment's PENDING ops, oldest first: one indexed read."""
    rows = _connection(session).execute(_PENDING, {"experiment": experiment_id}).mappings()
    return [ICOpRead.model_validate(dict(row)) for row in rows]


def claim(session: Session, ops: Iterable[ICOpRead]) -> int:
    """Stamp claimed_at on those of `ops` not claimed yet (once per op); how many were."""
    ids = [op.ic_id for op in ops if op.claimed_at is None]
    if not ids:
        return 0
    result = _connection(session).execute(_CLAIM, {"ids": ids, "now": utcnow()})
    return int(result.rowcount)


def record_chunks(session: Session, experiment_id: int, chunks: Sequence[ChunkRecord]) -> None:
    """Write finished chunks of the experiment's runs: progress, latest metrics, history."""
    now = utcnow()
    history: list[dict[str, Any]] = []
    for chunk in chunks:
        if write_run(session, chunk.run_id, chunk.fields, only_from=ACTIVE_RUN_STATUSES if chunk.only_active else ()):
            history.extend({**point, "run_id": chunk.run_id, "timestamp": now}
                           for point in chunk.points)
    if history:
        _connection(session).execute(_INSERT_METRICS, history)


def start_run(session: Session, run_id: int) -> bool:
    """NEW -> ONGOING, only if the run is still NEW (a delete may have made it KILLED)."""
    return write_run(session, run_id, {"status": "ONGOING"}, only_from=("NEW",))


def fail_run(session: Session, run_id: int, error: str) -> None:
    """Mark a run FAILED with its error, without reading the row (it may be unreadable)."""
    write_run(session, run_id, {"status": "FAILED", "error": error, "ended_by": "controller"})


def readable_runs(
    session: Session, experiment_id: int
) -> tuple[list[RunRead], dict[int, tuple[str, str]]]:
    """The experiment's runs in id order, and {run id: (status, why)} for rows that cannot
    be read.

    A row whose stored JSON is broken (a config edited by hand, a bad copy) fails
    alone instead of failing the whole read.
    """
    connection = _connection(session)
    try:  # the usual case: one read of every row
        rows = connection.execute(_RUNS_OF, {"experiment": experiment_id}).mappings().all()
        return [_run_read(dict(row)) for row in rows], {}
    except Exception:  # some row is broken: read them one by one to find which
        pass
    good: list[RunRead] = []
    bad: dict[int, tuple[str, str]] = {}
    for run_id, status in connection.execute(_RUN_IDS, {"experiment": experiment_id}).all():
        try:
            row = connection.execute(_ONE_RUN, {"target_run_id": run_id}).mappings().one()
            good.append(_run_read(dict(row)))
        except Exception as exc:  # one unreadable row must not hide the others
            bad[run_id] = (status, f"The run's row cannot be read ({_reason(exc)}).")
    return good, bad


def _run_read(values: dict[str, Any]) -> RunRead:
    if not isinstance(values.get("config_leaf"), dict):
        raise ValueError("its config is not a JSON object")
    if values.get("flattened_config") is None:
        values["flattened_config"] = flatten(values["config_leaf"])
    return RunRead.model_validate(values)


def _reason(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    if len(text) > 160:
        text = text[:157] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
