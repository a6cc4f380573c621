"""Experiments: create, find (running, current, by name), list, end; the controller heartbeat."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import Table, bindparam, update
from sqlmodel import Session, col, select

from .configs import check_depth, check_schema
from .errors import ConflictError, InvalidError, NotFoundError
from .models import EXPERIMENT_STATUSES, Experiment, ExperimentRead, is_id, utcnow

if TYPE_CHECKING:
    from .store import Store


def create_experiment(
    session: Session,
    *,
    name: str,
    experiment_path: str,
    num_chunks: int = 1,
    num_epochs: int = 1,
    config: dict[str, Any] | None = None,
    config_schema: dict[str, Any] | None = None,
) -> ExperimentRead:
    name = name.strip() if isinstance(name, str) else name
    if not isinstance(name, str) or not name:
        raise InvalidError("An experiment needs a non-empty name.")
    # The experiment log separates its fields with " | " and its events with line breaks.
    if "|" in name or not name.isprintable():
        raise InvalidError(
            f"The experiment name {name!r} holds '|' or a control character, which the "
            f"experiment log cannot keep apart from its fields; pick another name."
        )
    if num_chunks < 1 or num_epochs < 1:
        raise InvalidError("An experiment needs at least one chunk and one epoch.")
    check_depth(config, "The experiment's config")
    check_depth(config_schema, "The config schema")
    if config_schema is not None:
        check_schema(config_schema)
    if session.exec(select(Experiment.id).where(Experiment.name == name)).first() is not None:
        raise ConflictError(f"An experiment named {name!r} already exists; pick another name.")
    row = Experiment(
        name=name,
        experiment_path=experiment_path,
        num_chunks=num_chunks,
        num_epochs=num_epochs,
        config=config,
        config_schema=config_schema,
    )
    session.add(row)
    session.flush()
    return ExperimentRead.model_validate(row)


def get_experiment(session: Session, experiment_id: int) -> ExperimentRead:
    row = session.get(Experiment, experiment_id)
    if row is None:
        raise NotFoundError(f"There is no experiment with id {experiment_id}.")
    return ExperimentRead.model_validate(row)


def get_experiment_by_name(session: Session, name: str) -> ExperimentRead:
    row = session.exec(select(Experiment).where(Experiment.name == name)).first()
    if row is None:
        raise NotFoundError(f"There is no experiment named {name!r}.")
    return ExperimentRead.model_validate(row)


def get_running_experiment(session: Session) -> ExperimentRead | None:
    """The most recently created experiment whose status is `running`, if any."""
    row = session.exec(
        select(Experiment)
        .where(Experiment.status == "running")
        .order_by(col(Experiment.id).desc())
    ).first()
    return ExperimentRead.model_validate(row) if row is not None else None


def get_current_experiment(session: Session) -> ExperimentRead | None:
    """The running experiment, else the latest one, else None."""
    running = get_running_experiment(session)
    if running is not None:
        return running
    row = session.exec(select(Experiment).order_by(col(Experiment.id).desc())).first()
    return ExperimentRead.model_validate(row) if row is not None else None


def list_experiment_names(session: Session) -> list[str]:
    return list(session.exec(select(Experiment.name).order_by(col(Experiment.id))).all())


def list_experiments(session: Session) -> list[ExperimentRead]:
    rows = session.exec(select(Experiment).order_by(col(Experiment.id).desc())).all()
    return [ExperimentRead.model_validate(row) for row in rows]


def set_experiment_status(
    session: Session, experiment_id: int, status: str, *, error: str | None = None
) -> ExperimentRead:
    """Set `running` (clears the end time) or a final status (stamps it)."""
    if status not in EXPERIMENT_STATUSES:
        raise InvalidError(
            f"{status!r} is not an experiment status; use one of {', '.join(EXPERIMENT_STATUSES)}."
        )
    row = session.get(Experiment, experiment_id)
    if row is None:
        raise NotFoundError(f"There is no experiment with id {experiment_id}.")
    row.status = status
    row.error = error
    row.ended_at = None if status == "running" else utcnow()
    session.add(row)
    session.flush()
    return ExperimentRead.model_validate(row)


_PENDING_BUMPS = "rfconsole_revision_bumps"
_EXPERIMENTS: Table = Experiment.__table__  # type: ignore[attr-defined]
_BUMP_REVISION = (
    update(_EXPERIMENTS)
    .where(_EXPERIMENTS.c.id == bindparam("bumped_experiment"))
    .values(revision=_EXPERIMENTS.c.revision + 1)
)


def bump_revision(session: Session, experiment_id: int) -> None:
    """Mark that one of the experiment's runs changed (readers compare revisions).

    The bump is written once per transaction, just before `Store.write()` commits
    (`apply_revision_bumps`): the experiment row is then always the last row a
    write transaction locks, so on PostgreSQL a transaction that changes several
    runs never holds it while it waits for a run row that an IC request holds
    (which would deadlock against that request).
    """
    session.info.setdefault(_PENDING_BUMPS, set()).add(experiment_id)


def apply_revision_bumps(session: Session) -> None:
    """Write the revision bumps of this transaction (Store.write() calls it before committing)."""
    pending = session.info.pop(_PENDING_BUMPS, None)
    for experiment_id in sorted(pending or ()):
        session.connection().execute(_BUMP_REVISION, {"bumped_experiment": experiment_id})


def get_revision(session: Session, experiment_id: int) -> int:
    value = session.exec(select(Experiment.revision).where(Experiment.id == experiment_id)).first()
    if value is None:
        raise NotFoundError(f"There is no experiment with id {experiment_id}.")
    return value


def record_heartbeat(store: Store, experiment_id: int) -> None:
    """Stamp the controller's heartbeat on the experiment: one UPDATE in its own transaction.

    The revision is left alone on purpose: listings and their ETags change only
    when runs change, not every few seconds while a controller is alive.
    """
    if not is_id(experiment_id):
        raise NotFoundError(f"There is no experiment with id {experiment_id!r}.")
    with store.write() as session:
        result = session.connection().execute(
            update(Experiment)
            .where(col(Experiment.id) == experiment_id)
            .values(controller_seen_at=utcnow())
        )
        if result.rowcount == 0:
            raise NotFoundError(f"There is no experiment with id {experiment_id}.")
