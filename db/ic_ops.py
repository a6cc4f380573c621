"""Interactive Control ops: the run-state rules (docs/architecture.md, "Run states and IC ops"), in one place.

Every `request_*` function checks the rules and inserts the op in the caller's
write transaction (`Store.write()`, which holds SQLite's write lock from BEGIN;
on PostgreSQL the run's row is locked FOR UPDATE first), so two racing requests
for one run cannot both pass. The dispatcher and the console call
these and nothing else to queue ops; the controller claims and settles them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, insert
from sqlmodel import Session, col, select

from .configs import check_depth, merge_patch, validate_config
from .errors import ConflictError, InvalidError, NotFoundError
from .models import (
    ACTIVE_RUN_STATUSES,
    MAX_ID,
    OP_STATUSES,
    OP_VERBS,
    OPERATIONS,
    Experiment,
    ICOpRead,
    InteractiveControl,
    Run,
    utcnow,
)
from .runs import create_run, write_run
from .store import require_write

# Which run statuses each op may be requested from.
ALLOWED_FROM: dict[str, frozenset[str]] = {
    "STOP": frozenset(ACTIVE_RUN_STATUSES),
    "RESUME": frozenset({"STOPPED"}),
    "DELETE": frozenset({"NEW", "ONGOING", "COMPLETED", "STOPPED", "FAILED"}),
    "CLONE_MODIFY": frozenset({"NEW", "ONGOING", "COMPLETED", "STOPPED", "FAILED"}),
}
# Experiments in these states have no controller that will ever apply an op.
_CLOSED_EXPERIMENT = frozenset({"completed", "failed"})

# The rule checks run as Core statements on the transaction's connection (no ORM
# objects): about half the time of loading, checking and flushing ORM rows.
_RUNS = Run.__table__  # type: ignore[attr-defined]
_EXPERIMENTS = Experiment.__table__  # type: ignore[attr-defined]
OPS_TABLE = _OPS = InteractiveControl.__table__  # type: ignore[attr-defined]
_RUN_AND_EXPERIMENT = (
    select(
        _RUNS,
        _EXPERIMENTS.c.name.label("experiment_name"),
        _EXPERIMENTS.c.status.label("experiment_status"),
        _EXPERIMENTS.c.config_schema.label("experiment_config_schema"),
    )
    .join_from(_RUNS, _EXPERIMENTS, _RUNS.c.experiment_id == _EXPERIMENTS.c.id)
    .where(_RUNS.c.run_id == bindparam("wanted_run_id"))
)
# On a server database, the run's row is locked for the rest of the transaction
# before the rules are read: racing requests for one run then check and insert
# one after the other, as SQLite's database-wide write lock makes them do.
_LOCK_RUN = select(_RUNS.c.run_id).where(_RUNS.c.run_id == bindparam("wanted_run_id")).with_for_update()
_PENDING_OPS = select(_OPS.c.ic_id, _OPS.c.config_leaf, _OPS.c.warm_start).where(
    _OPS.c.run_id == bindparam("wanted_run_id"),
    _OPS.c.operation == bindparam("wanted_operation"),
    _OPS.c.status == "PENDING",
)


def _allowed_text(operation: str) -> str:
    if operation in ("DELETE", "CLONE_MODIFY"):
        return "runs that are not KILLED"
    return " or ".join(sorted(ALLOWED_FROM[operation])) + " runs"


def check_run_id(run_id: Any) -> None:
    """Refuse what cannot be a run id (InvalidError) or names no run (NotFoundError)."""
    if isinstance(run_id, bool) or not isinstance(run_id, int) or run_id < 0:
        raise InvalidError("run_id must be a non-negative whole number.")
    if run_id > MAX_ID:  # the driver would raise OverflowError binding it
        raise NotFoundError(f"There is no run with id {run_id}.")


def check_allowed(operation: str, run_id: int, run_status: str, experiment_name: str,
                  experiment_status: str) -> None:
    """The rules of `operation` on a run in `run_status` of an experiment in `experiment_status`."""
    if experiment_status in _CLOSED_EXPERIMENT:
        raise ConflictError(
            f"Run {run_id} belongs to experiment {experiment_name!r}, which has "
            f"{experiment_status}; IC ops apply only to a running or cancelled experiment."
        )
    if run_status not in ALLOWED_FROM[operation]:
        raise ConflictError(
            f"Run {run_id} is {run_status}; {OP_VERBS[operation]} applies only to "
            f"{_allowed_text(operation)}."
        )


def already_pending(operation: str, run_id: int, ic_id: int) -> ConflictError:
    return ConflictError(
        f"A {OP_VERBS[operation]} of run {run_id} is already pending (op {ic_id}); "
        f"wait for the controller to apply it."
    )


def new_op_values(run_id: int, experiment_id: int, operation: str, origin: str) -> dict[str, Any]:
    """The columns of a new PENDING op (without config_leaf, warm_start and new_run_id)."""
    return {
        "run_id": run_id,
        "experiment_id": experiment_id,
        "operation": operation,
        "status": "PENDING",
        "error": None,
        "origin": origin,
        "created_at": utcnow(),
        "claimed_at": None,
        "processed_at": None,
    }


def _load_run_for(session: Session, operation: str, run_id: int) -> Any:
    """The run as a Core row (its columns as attributes, plus `experiment_name`,
    `experiment_status` and `experiment_config_schema`), read with one statement
    (IC requests are a hot path of the dispatcher), once the rules allow `operation`."""
    require_write(session)
    check_run_id(run_id)
    session.flush()  # the Core reads below must see this transaction's pending ORM changes
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        # Read committed: the statements after the lock see what the holder before us committed.
        connection.execute(_LOCK_RUN, {"wanted_run_id": run_id})
    run = connection.execute(_RUN_AND_EXPERIMENT, {"wanted_run_id": run_id}).first()
    if run is None:
        raise NotFoundError(f"There is no run with id {run_id}.")
    check_allowed(operation, run_id, run.status, run.experiment_name, run.experiment_status)
    return run


def _refuse_duplicate(
    session: Session,
    operation: str,
    run_id: int,
    config_leaf: dict[str, Any] | None = None,
    warm_start: bool = False,
) -> None:
    pending = session.connection().execute(
        _PENDING_OPS, {"wanted_run_id": run_id, "wanted_operation": operation}
    ).all()
    for op in pending:
        if operation != "CLONE_MODIFY" or (
            op.config_leaf == config_leaf and op.warm_start == warm_start
        ):
            raise already_pending(operation, run_id, op.ic_id)


def _insert(
    session: Session,
    *,
    run: Any,
    operation: str,
    origin: str,
    config_leaf: dict[str, Any] | None = None,
    warm_start: bool = False,
    new_run_id: int | None = None,
) -> ICOpRead:
    assert run.run_id is not None
    values = new_op_values(run.run_id, run.experiment_id, operation, origin)
    values.update(config_leaf=config_leaf, warm_start=warm_start, new_run_id=new_run_id)
    key = session.connection().execute(insert(_OPS), values).inserted_primary_key
    assert key is not None
    return ICOpRead(ic_id=key[0], **values)


def request_stop(session: Session, *, run_id: int, origin: str) -> ICOpRead:
    run = _load_run_for(session, "STOP", run_id)
    _refuse_duplicate(session, "STOP", run_id)
    return _insert(session, run=run, operation="STOP", origin=origin)


def request_resume(session: Session, *, run_id: int, origin: str) -> ICOpRead:
    run = _load_run_for(session, "RESUME", run_id)
    _refuse_duplicate(session, "RESUME", run_id)
    return _insert(session, run=run, operation="RESUME", origin=origin)


def request_delete(session: Session, *, run_id: int, origin: str) -> ICOpRead:
    """Mark the run KILLED at once (as RapidFire does) and queue the op for the controller."""
    run = _load_run_for(session, "DELETE", run_id)
    _refuse_duplicate(session, "DELETE", run_id)
    write_run(session, run_id, {"status": "KILLED", "ended_by": origin or "user"})
    return _insert(session, run=run, operation="DELETE", origin=origin)


def request_clone_modify(
    session: Session,
    *,
    run_id: int,
    config: dict[str, Any] | None = None,
    config_patch: dict[str, Any] | None = None,
    warm_start: bool = False,
    origin: str,
) -> ICOpRead:
    """Create the clone run (NEW, source CLONE) at once and queue the op that starts it.

    Exactly one of `config` and `config_patch` says what the clone's config is:
    `config` is the whole of it (as RapidFire means it: a key left out is gone),
    `config_patch` an RFC 7396 JSON Merge Patch applied to the parent's config.
    The result is checked against the experiment's config schema and kept on
    the op as its `config_leaf`. The returned op carries the new run's id in
    `new_run_id`.
    """
    if (config is None) == (config_patch is None):
        raise InvalidError("Send exactly one of config (the clone's whole config) and "
                           "config_patch (a JSON merge patch on the parent's config).")
    given = config if config is not None else config_patch
    what = "The clone's config" if config is not None else "The clone's config_patch"
    if not isinstance(given, dict):
        raise InvalidError(f"{what} must be a JSON object.")
    check_depth(given, what)
    if not isinstance(warm_start, bool):
        raise InvalidError("warm_start must be true or false.")
    parent = _load_run_for(session, "CLONE_MODIFY", run_id)
    new_config = dict(given) if config is not None else merge_patch(parent.config_leaf, given)
    _refuse_duplicate(session, "CLONE_MODIFY", run_id, new_config, warm_start)
    if warm_start and not parent.checkpoint_path:
        raise ConflictError(
            f"Run {run_id} has no checkpoint yet, so a warm-started clone cannot be made; "
            f"wait until it has trained a chunk or clone it without warm start."
        )
    validate_config(new_config, parent.experiment_config_schema)
    clone = create_run(
        session,
        experiment_id=parent.experiment_id,
        config_leaf=new_config,
        num_chunks=parent.num_chunks,
        num_epochs=parent.num_epochs,
        source="CLONE",
        parent_run_id=run_id,
        warm_start=warm_start,
    )
    return _insert(
        session,
        run=parent,
        operation="CLONE_MODIFY",
        origin=origin,
        config_leaf=new_config,
        warm_start=warm_start,
        new_run_id=clone.run_id,
    )


def request_op(
    session: Session,
    operation: str,
    *,
    run_id: int,
    origin: str,
    config: dict[str, Any] | None = None,
    config_patch: dict[str, Any] | None = None,
    warm_start: bool = False,
) -> ICOpRead:
    """Dispatch on the op's name (`STOP`, `RESUME`, `DELETE`, `CLONE_MODIFY`); a clone takes
    `config` (its whole config) or `config_patch` (a merge patch on the parent's)."""
    if operation == "STOP":
        return request_stop(session, run_id=run_id, origin=origin)
    if operation == "RESUME":
        return request_resume(session, run_id=run_id, origin=origin)
    if operation == "DELETE":
        return request_delete(session, run_id=run_id, origin=origin)
    if operation == "CLONE_MODIFY":
        return request_clone_modify(
            session,
            run_id=run_id,
            config=config,
            config_patch=config_patch,
            warm_start=warm_start,
            origin=origin,
        )
    raise InvalidError(f"{operation!r} is not an IC op; use one of {', '.join(OPERATIONS)}.")


# --- the controller's side ---------------------------------------------------


def list_pending(session: Session, *, experiment_id: int | None = None) -> list[ICOpRead]:
    """PENDING ops, oldest first."""
    statement = select(InteractiveControl).where(InteractiveControl.status == "PENDING")
    if experiment_id is not None:
        statement = statement.where(InteractiveControl.experiment_id == experiment_id)
    statement = statement.order_by(col(InteractiveControl.ic_id))
    return [ICOpRead.model_validate(op) for op in session.exec(statement).all()]


def claim_pending(session: Session, *, experiment_id: int) -> list[ICOpRead]:
    """Stamp claimed_at on the experiment's PENDING ops and return them, oldest first.

    Claimed ops stay PENDING until settled, so a controller restarted after a
    crash claims them again: nothing is lost.
    """
    require_write(session)
    now = utcnow()
    rows = session.exec(
        select(InteractiveControl)
        .where(
            InteractiveControl.status == "PENDING",
            InteractiveControl.experiment_id == experiment_id,
        )
        .order_by(col(InteractiveControl.ic_id))
    ).all()
    for row in rows:
        row.claimed_at = now
        session.add(row)
    session.flush()
    return [ICOpRead.model_validate(row) for row in rows]


def _settle(session: Session, ic_id: int, status: str, error: str | None) -> ICOpRead:
    row = session.get(InteractiveControl, ic_id)
    if row is None:
        raise NotFoundError(f"There is no IC op with id {ic_id}.")
    if row.status != "PENDING":
        raise ConflictError(f"IC op {ic_id} is already {row.status}; it cannot be settled twice.")
    row.status = status
    row.error = error
    row.processed_at = utcnow()
    session.add(row)
    session.flush()
    return ICOpRead.model_validate(row)


def mark_completed(session: Session, ic_id: int) -> ICOpRead:
    return _settle(session, ic_id, "COMPLETED", None)


def mark_failed(session: Session, ic_id: int, error: str) -> ICOpRead:
    return _settle(session, ic_id, "FAILED", error)


def mark_skipped(session: Session, ic_id: int, reason: str) -> ICOpRead:
    return _settle(session, ic_id, "SKIPPED", reason)


# --- history -----------------------------------------------------------------


def get_op(session: Session, ic_id: int) -> ICOpRead:
    row = session.get(InteractiveControl, ic_id)
    if row is None:
        raise NotFoundError(f"There is no IC op with id {ic_id}.")
    return ICOpRead.model_validate(row)


def list_ops(
    session: Session,
    *,
    experiment_id: int | None = None,
    run_id: int | None = None,
    status: str | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[ICOpRead]:
    """The ops history (the audit log), newest first; `run_id` matches the op's run or its clone."""
    if status is not None and status not in OP_STATUSES:
        raise InvalidError(f"{status!r} is not an op status; use one of {', '.join(OP_STATUSES)}.")
    statement = select(InteractiveControl)
    if experiment_id is not None:
        statement = statement.where(InteractiveControl.experiment_id == experiment_id)
    if run_id is not None:
        statement = statement.where(
            (InteractiveControl.run_id == run_id) | (InteractiveControl.new_run_id == run_id)
        )
    if status is not None:
        statement = statement.where(InteractiveControl.status == status)
    statement = statement.order_by(col(InteractiveControl.ic_id).desc()).offset(offset)
    if limit is not None:
        statement = statement.limit(limit)
    return [ICOpRead.model_validate(op) for op in session.exec(statement).all()]
