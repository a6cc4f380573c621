"""Runs: create, get, list with filters and paging, and every change of a run row.

`write_run` is the one place a run row is changed, for every caller: the
controller's per-chunk write, an IC request, an op the controller applies, the
metrics-tracker id. It checks the fields and statuses, flattens a new config,
stamps `updated_at` and marks the experiment's revision for a bump (written
once per transaction, just before `Store.write()` commits). It is one UPDATE
built once, on the transaction's connection, which keeps the controller's
bookkeeping within a fraction of a millisecond per chunk:

    with store.write() as session:
        runs.write_run(session, run_id, {"completed_steps": 40, "metrics": {"loss": 0.3}},
                       only_from=ACTIVE_RUN_STATUSES)  # False once it is not NEW or ONGOING
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Table, Update, and_, bindparam, func, insert, or_, update
from sqlmodel import Session, col, select

from .configs import check_depth, flatten
from .errors import InvalidError, NotFoundError
from .experiments import bump_revision
from .models import ACTIVE_RUN_STATUSES, RUN_STATUSES, Run, RunRead, is_id, utcnow

if TYPE_CHECKING:
    from .store import Store

# Fields a caller may change with write_run / update_run; the rest are fixed at creation.
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
        "metric_run_id",
    }
)
MAX_METRIC_RUN_ID_LENGTH = 200

_RUNS: Table = Run.__table__  # type: ignore[attr-defined]
_INSERT = insert(_RUNS)


def _write_statement(only_from: tuple[str, ...]) -> Update:
    # Equalities joined by OR rather than IN: an expanding IN is rendered again at every execution.
    where: ColumnElement[bool] = _RUNS.c.run_id == bindparam("target_run_id")
    if only_from:
        where = and_(where, or_(*(_RUNS.c.status == status for status in only_from)))
    return update(_RUNS).where(where).returning(_RUNS.c.experiment_id)


# Built once: SQLAlchemy finds their compiled forms in its cache (one per set of columns written).
_WRITES: dict[tuple[str, ...], Update] = {
    only_from: _write_statement(only_from) for only_from in ((), ACTIVE_RUN_STATUSES, ("NEW",))
}


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
    values = dict(
        experiment_id=experiment_id,
        run_name=run_name or "",
        status="NEW",
        config_leaf=config_leaf,
        flattened_config=flatten(config_leaf),
        metrics={},
        num_chunks=num_chunks,
        num_epochs=num_epochs,
        source=source,
        parent_run_id=parent_run_id,
        warm_start=warm_start,
        total_steps=total_steps,
        created_at=now,
        updated_at=now,
    )
    key = session.connection().execute(_INSERT, values).inserted_primary_key
    assert key is not None
    run_id = int(key[0])
    if run_name:
        bump_revision(session, experiment_id)
    else:  # the name holds the id, known only once the row is in
        _write(session, run_id, {"run_name": f"run_{run_id}"}, ())
    return get_run(session, run_id)


def get_run(session: Session, run_id: int) -> RunRead:
    # populate_existing: a row this session loaded before a write_run is read again.
    row = session.get(Run, run_id, populate_existing=True)
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
    statement = statement.execution_options(populate_existing=True)
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


def write_run(session: Session, run_id: int, fields: Mapping[str, Any], *,
              only_from: tuple[str, ...] = ()) -> bool:
    """Change some of a run's fields: the one place a run row is changed.

    Refuses unknown fields and values (InvalidError), flattens a new `config_leaf`,
    stamps `updated_at` and bumps the experiment's revision at commit. With
    `only_from`, the row changes only while its status is one of those (a run
    that a request made KILLED meanwhile keeps its status). False if no row
    changed (no such run, or not in those statuses).
    """
    values = _checked(fields)
    if not is_id(run_id):  # no run has it (and the driver could not bind it)
        return False
    return _write(session, run_id, values, only_from)


def _checked(fields: Mapping[str, Any]) -> dict[str, Any]:
    unknown = set(fields) - UPDATABLE_FIELDS
    if unknown:
        raise InvalidError(f"Run field {sorted(unknown)[0]!r} cannot be updated.")
    values = dict(fields)
    if "status" in values and values["status"] not in RUN_STATUSES:
        raise InvalidError(
            f"{values['status']!r} is not a run status; use one of {', '.join(RUN_STATUSES)}."
        )
    if "config_leaf" in values:
        config = values["config_leaf"]
        if not isinstance(config, dict):
            raise InvalidError("A run config must be a JSON object.")
        check_depth(config, "The run's config")
        values["flattened_config"] = flatten(config)
    if "metric_run_id" in values:
        _check_metric_run_id(values["metric_run_id"])
    return values


def _check_metric_run_id(metric_run_id: Any) -> None:
    if metric_run_id is not None and (
        not isinstance(metric_run_id, str)
        or not metric_run_id
        or len(metric_run_id) > MAX_METRIC_RUN_ID_LENGTH
        or not metric_run_id.isprintable()
    ):
        raise InvalidError(
            f"A metric run id must be 1 to {MAX_METRIC_RUN_ID_LENGTH} printable characters."
        )


def _write(session: Session, run_id: int, values: dict[str, Any], only_from: tuple[str, ...]) -> bool:
    statement = _WRITES.get(only_from)
    if statement is None:
        statement = _WRITES.setdefault(only_from, _write_statement(only_from))
    values["updated_at"] = utcnow()
    values["target_run_id"] = run_id
    experiment_id = session.connection().execute(statement, values).scalar()
    if experiment_id is None:
        return False
    bump_revision(session, experiment_id)
    return True


def update_run(session: Session, run_id: int, **fields: Any) -> RunRead:
    """`write_run`, then the run as it now is (NotFoundError if there is no such run)."""
    if not write_run(session, run_id, fields):
        raise NotFoundError(f"There is no run with id {run_id}.")
    return get_run(session, run_id)


def set_metric_run_id(store: Store, run_id: int, metric_run_id: str | None) -> RunRead:
    """Record (or, with None, clear) the run's id in the metrics tracker, in its own transaction.

    The id is shown next to the run, so the experiment's revision moves with it.
    """
    _check_metric_run_id(metric_run_id)
    if not is_id(run_id):
        raise NotFoundError(f"There is no run with id {run_id!r}.")
    with store.write() as session:
        return update_run(session, run_id, metric_run_id=metric_run_id)
