"""What the console reads from the database, in worker threads: plain read models only.

A refresh asks for the experiment first; if its revision has not moved since
the last refresh, the runs are not read at all. Otherwise only runs whose
`updated_at` is at or after the last one seen (less a safety margin for
transactions that committed late) are read, and the table updates just those.
The first read of an experiment leaves the sparklines out (with 10,000 runs they
take as long as the runs themselves): the table is shown at once and the next
read, asked for straight away, brings every run's sparkline.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rfconsole.db import Store, experiments, ic_ops, metrics, runs
from rfconsole.db.errors import NotFoundError
from rfconsole.db.models import ExperimentRead, ICOpRead, MetricPoint, RunRead
from rfconsole.db.snapshots import SPARK_POINTS, all_runs, clones_of, recent_values, runs_changed_since

OPS_SHOWN = 50
MAIN_METRIC_PREFERENCE = ("val_loss", "eval_loss", "loss", "train_loss", "val_accuracy")
__all__ = ["SPARK_POINTS", "RunsSnapshot", "RunDetail", "read_runs_snapshot", "read_run_detail",
           "read_experiments", "recent_values", "runs_changed_since"]


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
    sparks_pending: bool = False  # a first read: ask for every run's sparkline next
    all_sparks: bool = False  # `sparks` has every run's sparkline


def pick_main_metric(names: Iterable[str]) -> str | None:
    names = set(names)
    for name in MAIN_METRIC_PREFERENCE:
        if name in names:
            return name
    return min(names) if names else None


def find_experiment(session: Any, experiment_id: int | None,
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


def read_runs_snapshot(store: Store, *, experiment_id: int | None, experiment_name: str | None,
                       shown_experiment_id: int | None, known_revision: int | None,
                       since: datetime | None, main_metric: str | None,
                       known_runs: Mapping[int, RunRead] | None = None,
                       all_sparks: bool = False) -> RunsSnapshot:
    """Read what changed since the last refresh of `shown_experiment_id` (all of it if new,
    without sparklines); with `all_sparks`, the sparkline of every known run as well."""
    with store.read() as session:
        experiment = find_experiment(session, experiment_id, experiment_name)
        if experiment is None:
            return RunsSnapshot(experiment=None)
        ops = ic_ops.list_ops(session, experiment_id=experiment.id, limit=OPS_SHOWN)
        full = experiment.id != shown_experiment_id or since is None
        if full:
            changed = all_runs(session, experiment.id)
            main_metric = pick_main_metric(name for run in changed for name in run.metrics)
            return RunsSnapshot(experiment=experiment, changed_runs=changed, ops=ops, full=True,
                                runs_read=True, main_metric=main_metric,
                                sparks_pending=main_metric is not None and bool(changed))
        if experiment.revision == known_revision and not all_sparks:
            return RunsSnapshot(experiment=experiment, ops=ops, main_metric=main_metric)
        changed = runs_changed_since(session, experiment.id, since, known_runs)
        if main_metric is None:
            main_metric = pick_main_metric(name for run in changed for name in run.metrics)
        spark_ids = {run.run_id for run in changed}
        if all_sparks:
            spark_ids.update(known_runs or ())
        sparks = recent_values(session, sorted(spark_ids), main_metric) if main_metric else {}
        return RunsSnapshot(experiment=experiment, changed_runs=changed, sparks=sparks, ops=ops,
                            runs_read=True, main_metric=main_metric, all_sparks=all_sparks)


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
        clones = clones_of(session, run_id)
        ops = ic_ops.list_ops(session, run_id=run_id, limit=100)
        history = metrics.metric_history(session, run_id=run_id, max_points=max_points)
        return RunDetail(run, experiment, parent, clones, ops, history)


def read_experiments(store: Store) -> list[tuple[ExperimentRead, int]]:
    """Every experiment, newest first, with its number of runs."""
    with store.read() as session:
        found = experiments.list_experiments(session)
        return [(e, runs.count_runs(session, experiment_id=e.id)) for e in found]
