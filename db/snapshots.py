"""The reads behind a live view that refreshes every second: what changed since the last
look, the newest points of a metric for a sparkline, and a run's clones.

Each is one or two statements, built for 10,000 runs: changed runs are found by
their `updated_at` stamp (ids and stamps first, whole rows only for those that
really changed), sparkline points by a window function that keeps the newest
few per run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

import orjson
import sqlalchemy
from sqlalchemy import func
from sqlmodel import Session, col, select

from .models import Metric, Run, RunRead

# A write stamps updated_at before it commits; a reader may see a later stamp
# first. Re-reading this far back catches such rows (unchanged ones are skipped).
LATE_COMMIT_MARGIN = timedelta(seconds=10)
SPARK_POINTS = 24
_IN_BATCH = 500
_RUNS = Run.__table__  # type: ignore[attr-defined]
_JSON_COLUMNS = ("metrics", "config_leaf", "flattened_config")
_ALL_RUNS = (
    sqlalchemy.select(*(sqlalchemy.cast(column, sqlalchemy.Text).label(column.name)
                        if column.name in _JSON_COLUMNS else column for column in _RUNS.c))
    .where(_RUNS.c.experiment_id == sqlalchemy.bindparam("wanted_experiment_id"))
    .order_by(_RUNS.c.run_id)
)


def runs_changed_since(session: Session, experiment_id: int, since: datetime | None,
                       known: Mapping[int, RunRead] | None = None) -> list[RunRead]:
    """Runs of the experiment in id order: all of them without `since`, else those updated
    at or after `since` (less LATE_COMMIT_MARGIN) whose stamp differs from `known`'s."""
    if since is None:
        statement = select(Run).where(Run.experiment_id == experiment_id)
        return [RunRead.model_validate(row)
                for row in session.exec(statement.order_by(col(Run.run_id))).all()]
    stamps = session.exec(
        select(Run.run_id, Run.updated_at).where(
            Run.experiment_id == experiment_id,
            col(Run.updated_at) >= since - LATE_COMMIT_MARGIN)
    ).all()
    known = known or {}
    wanted = [run_id for run_id, stamp in stamps
              if run_id is not None and (run_id not in known or known[run_id].updated_at != stamp)]
    changed: list[RunRead] = []
    for start in range(0, len(wanted), _IN_BATCH):
        batch = wanted[start:start + _IN_BATCH]
        rows = session.exec(select(Run).where(col(Run.run_id).in_(batch))).all()
        changed += [RunRead.model_validate(row) for row in rows]
    return sorted(changed, key=lambda run: run.run_id)


def all_runs(session: Session, experiment_id: int) -> list[RunRead]:
    """Every run of the experiment in id order, read as plain rows (no ORM objects, JSON
    columns as text parsed by orjson): the console's first look at 10,000 runs takes a
    third of the time `runs_changed_since` takes."""
    result = session.execute(_ALL_RUNS, {"wanted_experiment_id": experiment_id})
    names = list(result.keys())
    runs = []
    for row in result:
        fields = dict(zip(names, row, strict=True))
        for name in _JSON_COLUMNS:
            text = fields[name]
            fields[name] = None if text is None else orjson.loads(text)
        runs.append(RunRead.model_validate(fields))
    return runs


def recent_values(session: Session, run_ids: Sequence[int], name: str,
                  points: int = SPARK_POINTS) -> dict[int, list[float]]:
    """The last `points` values of one metric for each run, oldest first."""
    values: dict[int, list[float]] = {}
    for start in range(0, len(run_ids), _IN_BATCH):
        batch = list(run_ids[start:start + _IN_BATCH])
        # Newest `points` per run only: a long run has thousands of points.
        newest_first = func.row_number().over(
            partition_by=col(Metric.run_id), order_by=(col(Metric.step).desc(), col(Metric.id).desc()))
        ranked = (
            select(Metric.run_id, Metric.value, Metric.step, Metric.id,  # type: ignore[call-overload]
                   newest_first.label("rank"))
            .where(Metric.name == name, col(Metric.run_id).in_(batch))
            .subquery()
        )
        statement = (
            select(ranked.c.run_id, ranked.c.value)
            .where(ranked.c.rank <= points)
            .order_by(ranked.c.run_id, ranked.c.step, ranked.c.id)
        )
        for run_id, value in session.execute(statement).all():
            values.setdefault(run_id, []).append(value)
    return values


def clones_of(session: Session, run_id: int) -> list[RunRead]:
    """The runs cloned from `run_id`, in id order."""
    rows = session.exec(select(Run).where(Run.parent_run_id == run_id).order_by(col(Run.run_id))).all()
    return [RunRead.model_validate(row) for row in rows]
