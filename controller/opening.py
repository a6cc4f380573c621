"""Opening an experiment: create it with its runs, or reopen it and rebuild the rotation."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rfconsole.db import (
    ACTIVE_RUN_STATUSES,
    ConflictError,
    ExperimentRead,
    InvalidError,
    NotFoundError,
    Store,
    experiments,
    progress,
    runs,
)
from rfconsole.db import (
    configs as db_configs,
)

from .checkpoints import CheckpointRefused
from .context import ExperimentContext
from .live import ENDED_BY_CANCEL, progress_fields
from .paths import fresh_experiment_folder
from .rotation import Rotation

TERMINAL = ("COMPLETED", "FAILED", "KILLED")


def open_experiment(store: Store, name: str, configs: Sequence[Mapping[str, Any]], *,
                    num_chunks: int, num_epochs: int, schema: Mapping[str, Any] | None,
                    experiment_path: str | Path | None,
                    described: Mapping[str, Any]) -> ExperimentRead:
    """Create the experiment and its runs, or reopen an unfinished one of that name."""
    with store.write() as session:
        try:
            existing = experiments.get_experiment_by_name(session, name)
        except NotFoundError:
            existing = None
        if existing is not None:
            if existing.status == "completed":
                raise ConflictError(f"Experiment {name!r} has already completed; "
                                    f"start a new one under another name.")
            return experiments.set_experiment_status(session, existing.id, "running")
        if not configs:
            raise InvalidError("An experiment needs at least one config.")
        for index, config in enumerate(configs):
            try:
                db_configs.validate_config(dict(config) if isinstance(config, Mapping)
                                           else config, dict(schema) if schema else None)
            except InvalidError as exc:
                raise InvalidError(f"Config {index + 1}: {exc.message}") from None
        path = fresh_experiment_folder(store, name, experiment_path)
        experiment = experiments.create_experiment(
            session, name=name, experiment_path=str(path), num_chunks=num_chunks,
            num_epochs=num_epochs,
            config={"num_chunks": num_chunks, "num_epochs": num_epochs, **described},
            config_schema=dict(schema) if schema else None)
        for config in configs:
            runs.create_run(session, experiment_id=experiment.id, config_leaf=dict(config),
                            num_chunks=num_chunks, num_epochs=num_epochs)
        return experiment


def load_rotation(context: ExperimentContext, rotation: Rotation) -> dict[int, str]:
    """Put the experiment's NEW and ONGOING runs (and those a cancel left STOPPED) back in
    the rotation at their checkpoints, and note the other STOPPED runs.

    A run whose row cannot be read, or whose checkpoint is refused or cannot be
    loaded, fails alone: it is marked FAILED and returned as {run id: reason}.
    """
    failed: dict[int, str] = {}
    # One write transaction: no request can change a run between reading and correcting it.
    with context.store.write() as session:
        all_runs, unreadable = progress.readable_runs(session, context.experiment_id)
        pending = progress.pending_ops(session, context.experiment_id)
        # A clone's run row exists before its op is applied; the op starts it.
        unstarted_clones = {op.new_run_id for op in pending if op.operation == "CLONE_MODIFY"}
        for run_id, (status, reason) in unreadable.items():
            if status not in TERMINAL:
                progress.fail_run(session, run_id, reason)
                failed[run_id] = reason
        for run in all_runs:
            if run.run_id in unstarted_clones:
                continue
            back_from_cancel = run.status == "STOPPED" and run.ended_by == ENDED_BY_CANCEL
            if run.status in ACTIVE_RUN_STATUSES or back_from_cancel:
                try:
                    live = context.restore(run)
                except CheckpointRefused as exc:
                    progress.fail_run(session, run.run_id, str(exc))
                    failed[run.run_id] = str(exc)
                    continue
                rotation.add(live)
                fields: dict[str, Any] = {}
                if live.position != run.num_chunks_visited:  # the checkpoint is the truth
                    fields.update(progress_fields(live.position, *context.shape),
                                  completed_steps=live.completed_steps)
                if back_from_cancel:
                    fields.update(status="ONGOING", ended_by=None)
                if fields:
                    runs.write_run(session, run.run_id, fields)
            elif run.status == "STOPPED":
                rotation.stopped.add(run.run_id)
    return failed
