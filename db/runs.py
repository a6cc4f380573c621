"""Runs: create, get, list with filters and paging, partial updates, the metrics-tracker id."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from .configs import check_depth, flatten
from .errors import InvalidError, NotFoundError
from .experiments import bump_revision
from .models import RUN_STATUSES, Run, RunRead, is_id, utcnow

if TYPE_CHECKING:
    from .store import Store

# Fields a caller may change with update_run; the rest are fixed at creation.
UPDATABLE_FIELDS = frozenset(
    {
        "status",
        "metrics",
        "current_chunk",
        "current_epoch",
        "num_epochs_completed",
        "completed_steps",
        "total_steps",
        "num_chunks_visited",
        "checkpoint_path",
        "ended_by",
        "error",
        "config_leaf",
    }
)


def _read(row: Run) -> RunRead:
    return RunRead.model_validate(row)


def create_run(
    session: Session,
    *,
    experiment_id: int,
    config_leaf: dict[str, Any],
    num_chunks: int,
    num_epochs: int,
    run_name: str | None = None,
    source: str = "USER",
    parent_run_id: int | None = None,
    warm_start: bool = False,
    total_steps: int = 0,
) -> RunRead:
    """Add a NEW run; its name is `run_<id>` unless one is given."""
    if not isinstance(config_leaf, dict):
        raise InvalidError("A run config must be a JSON object.")
    check_depth(config_leaf, "The run's config")
    now = utcnow()
    row = Run(
        experiment_id=experiment_id,
        run_name=run_name or "",
        status="NEW",
        config_leaf=config_leaf,
        flattened_config=flatten(config_leaf),
        num_chunks=num_chunks,
        num_epochs=num_epochs,
        source=source,
        parent_run_id=parent_run_id,
        warm_start=warm_start,
        total_steps=total_steps,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    if not row.run_name:
        row.run_name = f"run_{row.run_id}"
    bump_revision(session, experiment_id)
    session.flush()
    return _read(row)


def get_run(session: Session, run_id: int) -> RunRead:
    row = session.get(Run, run_id)
    if row is None:
        raise NotFoundError(f"There is no run with id {run_id}.")
    return _read(row)


def _filtered(statement: Any, experiment_id: int | None, status: str | Iterable[str] | None) -> Any:
    if experiment_id is not None:
        statement = statement.where(Run.experiment_id == experiment_id)
    if status is not None:
        statuses = check_statuses([status] if isinstance(status, str) else status)
        statement = statement.where(col(Run.status).in_(statuses))
    return statement


def check_statuses(statuses: Iterable[str]) -> list[str]:
    """The distinct run statuses asked for, sorted; InvalidError names the first unknown one."""
    picked = sorted(set(statuses))
    for status in picked:
        if status not in RUN_STATUSES:
            raise InvalidError(
                f"{status[:40]!r} is not a run status; use one or more of {', '.join(RUN_STATUSES)}."
            )
    return picked


def list_runs(
    session: Session,
    *,
    experiment_id: int | None = None,
    status: str | Iterable[str] | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[RunRead]:
    """Runs in id order, optionally of one experiment and some statuses, one page of them."""
    if (limit is not None and limit < 0) or offset < 0:
        raise InvalidError("limit and offset must be zero or more.")
    statement = _filtered(select(Run), experiment_id, status).order_by(col(Run.run_id))
    if offset:
        statement = statement.offset(offset)
    if limit is not None:
        statement = statement.limit(limit)
    return [_read(row) for row in session.exec(statement).all()]


def count_runs(
    session: Session,
    *,
    experiment_id: int | None = None,
    status: str | Iterable[str] | None = None,
) -> int:
    statement = _filtered(select(func.count()).select_from(Run), experiment_id, status)
    return int(session.exec(statement).one())


def update_run(session: Session, run_id: int, **fields: Any) -> RunRead:
    """Change some of a run's fields (progress, metrics, status, ...) and stamp updated_at."""
    unknown = set(fields) - UPDATABLE_FIELDS
    if unknown:
        raise InvalidError(f"Run field {sorted(unknown)[0]!r} cannot be updated.")
    if "status" in fields and fields["status"] not in RUN_STATUSES:
        raise InvalidError(
            f"{fields['status']!r} is not a run status; use one of {', '.join(RUN_STATUSES)}."
        )
    row = session.get(Run, run_id)
    if row is None:
        raise NotFoundError(f"There is no run with id {run_id}.")
    for name, value in fields.items():
        setattr(row, name, value)
    if "config_leaf" in fields:
        check_depth(fields["config_leaf"], "The run's config")
        row.flattened_config = flatten(fields["config_leaf"])
    row.updated_at = utcnow()
    session.add(row)
    bump_revision(session, row.experiment_id)
    session.flush()
    return _read(row)


MAX_METRIC_RUN_ID_LENGTH = 200


def set_metric_run_id(store: Store, run_id: int, metric_run_id: str | None) -> RunRead:
    """Record (or, with None, clear) the run's id in the metrics tracker, in its own transaction.

    The id is shown next to the run, so the experiment's revision moves with it.
    """
    if metric_run_id is not None and (
        not isinstance(metric_run_id, str)
        or not metric_run_id
        or len(metric_run_id) > MAX_METRIC_RUN_ID_LENGTH
        or not metric_run_id.isprintable()
    ):
        raise InvalidError(
            f"A metric run id must be 1 to {MAX_METRIC_RUN_ID_LENGTH} printable characters."
        )
    if not is_id(run_id):
        raise NotFoundError(f"There is no run with id {run_id!r}.")
    with store.write() as session:
        row = session.get(Run, run_id)
        if row is None:
            raise NotFoundError(f"There is no run with id {run_id}.")
        row.metric_run_id = metric_run_id
        row.updated_at = utcnow()
        session.add(row)
        bump_revision(session, row.experiment_id)
        session.flush()
        return _read(row)
