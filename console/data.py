"""What the console reads from the database, in worker threads: plain read models only.

A refresh asks for the experiment first; if its revision has not moved since
the last refresh, the runs are not read at all. Otherwise only runs whose
`updated_at` is at or after the last one seen (less a safety margin for
transactions that committed late) are read, and the table updates just those.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from rfconsole.db import Store, experiments, ic_ops, metrics, runs
from rfconsole.db.errors import NotFoundError
from rfconsole.db.models import ExperimentRead, ICOpRead, Metric, MetricPoint, Run, RunRead
from sqlalchemy import func
from sqlmodel import Session, col, select

# A write stamps updated_at before it commits; a reader may see a later stamp
# first. Re-reading this far back catches such rows (unchanged ones are skipped).
LATE_COMMIT_MARGIN = timedelta(seconds=10)
SPARK_POINTS = 24
OPS_SHOWN = 50
MAIN_METRIC_PREFERENCE = ("val_loss", "eval_loss", "loss", "train_loss", "val_accuracy")
_IN_BATCH = 500


@dataclass(frozen=True)
class RunsSnapshot:
    """One refresh's worth of data for the runs screen."""

    experiment: ExperimentRead | None
    changed_runs: list[RunRead] = field(default_factory=list)
    sparks: dict[int, list[float]] = field(default_factory=dict)
    ops: list[ICOpRead] = field(default_factory=list)
    full: bool = False  # changed_runs holds every run (first load or new experiment)
    runs_read: bool = False  # False when the revision had not moved
    main_metric: str | None = None


def pick_main_metric(names: Iterable[str]) -> str | None:
    names = set(names)
    for name in MAIN_METRIC_PREFERENCE:
        if name in names:
            return name
    return min(names) if names else None


def find_experiment(session: Session, experiment_id: int | None,
                    name: str | None) -> ExperimentRead | None:
    """The experiment the console shows: a chosen one, a named one, else the current one."""
    try:
        if experiment_id is not None:
            return experiments.get_experiment(session, experiment_id)
        if name is not None:
            return experiments.get_experiment_by_name(session, name)
    except NotFoundError:
        return None
    return experiments.get_current_experiment(session)


def runs_changed_since(session: Session, experiment_id: int, since: datetime | None,
                       known: Mapping[int, RunRead] | None = None) -> list[RunRead]:
    """Runs updated at or after `since` (less the margin) whose stamp differs from `known`.

    Only ids and stamps are read first, so runs re-read because of the margin cost
    little; whole rows are read for the runs that really changed.
    """
    if since is None:
        statement = select(Run).where(Run.experiment_id == experiment_id)
        return [RunRead.model_validate(row)
                for row in session.exec(statement.order_by(col(Run.run_id))).all()]
    stamps = session.exec(
        select(col(Run.run_id), col(Run.updated_at)).where(
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
            select(col(Metric.run_id), col(Metric.value), newest_first.label("rank"))
            .where(Metric.name == name, col(Metric.run_id).in_(batch))
            .subquery()
        )
        statement = (
            select(ranked.c.run_id, ranked.c.value)
            .where(ranked.c.rank <= points)
            .order_by(ranked.c.run_id, ranked.c.rank.desc())  # oldest first: rank 1 is the newest
        )
        for run_id, value in session.execute(statement).all():
            values.setdefault(run_id, []).append(value)
    return values


def read_runs_snapshot(store: Store, *, experiment_id: int | None, experiment_name: str | None,
                       shown_experiment_id: int | None, known_revision: int | None,
                       since: datetime | None, main_metric: str | None,
                       known_runs: Mapping[int, RunRead] | None = None) -> RunsSnapshot:
    """Read what changed since the last refresh of `shown_experiment_id` (all of it if new)."""
    with store.read() as session:
        experiment = find_experiment(session, experiment_id, experiment_name)
        if experiment is None:
            return RunsSnapshot(experiment=None)
        ops = ic_ops.list_ops(session, experiment_id=experiment.id, limit=OPS_SHOWN)
        full = experiment.id != shown_experiment_id or since is None
        if not full and experiment.revision == known_revision:
            return RunsSnapshot(experiment=experiment, ops=ops, main_metric=main_metric)
        changed = runs_changed_since(session, experiment.id, None if full else since,
                                     None if full else known_runs)
        if main_metric is None or full:
            main_metric = pick_main_metric(name for run in changed for name in run.metrics)
        sparks = (recent_values(session, [run.run_id for run in changed], main_metric)
                  if main_metric else {})
        return RunsSnapshot(experiment=experiment, changed_runs=changed, sparks=sparks, ops=ops,
                            full=full, runs_read=True, main_metric=main_metric)


@dataclass(frozen=True)
class RunDetail:
    """Everything the run detail screen shows."""

    run: RunRead
    experiment: ExperimentRead
    parent: RunRead | None
    clones: list[RunRead]
    ops: list[ICOpRead]
    history: dict[str, list[MetricPoint]]


def read_run_detail(store: Store, run_id: int, max_points: int = 400) -> RunDetail:
    with store.read() as session:
        run = runs.get_run(session, run_id)
        experiment = experiments.get_experiment(session, run.experiment_id)
        parent = runs.get_run(session, run.parent_run_id) if run.parent_run_id else None
        clone_rows = session.exec(
            select(Run).where(Run.parent_run_id == run_id).order_by(col(Run.run_id))
        ).all()
        clones = [RunRead.model_validate(row) for row in clone_rows]
        ops = ic_ops.list_ops(session, run_id=run_id, limit=100)
        history = metrics.metric_history(session, run_id=run_id, max_points=max_points)
        return RunDetail(run, experiment, parent, clones, ops, history)


def read_experiments(store: Store) -> list[tuple[ExperimentRead, int]]:
    """Every experiment, newest first, with its number of runs."""
    with store.read() as session:
        found = experiments.list_experiments(session)
        return [(e, runs.count_runs(session, experiment_id=e.id)) for e in found]
