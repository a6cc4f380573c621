"""Queue IC ops from the console through the data layer's rules (the same as the dispatcher's)."""

from __future__ import annotations

import getpass
import socket
from dataclasses import dataclass
from typing import Any

from rfconsole.db import Store, experiment_log, ic_ops
from rfconsole.db.errors import StoreError
from rfconsole.db.models import ExperimentRead

VERBS = {"STOP": "stop", "RESUME": "resume", "DELETE": "delete", "CLONE_MODIFY": "clone-modify"}
READONLY_MESSAGE = "The console is read-only (--readonly), so IC ops are turned off."


def console_origin() -> str:
    """`console:<user>@<host>`: who queued an op, kept in the ops history."""
    try:
        user = getpass.getuser()
    except Exception:  # no login name in some containers
        user = "unknown"
    return f"console:{user}@{socket.gethostname()}"


@dataclass(frozen=True)
class OpOutcome:
    """What happened to one run's request: queued (with the op id) or refused (with why)."""

    operation: str
    run_id: int
    ic_id: int | None = None
    new_run_id: int | None = None
    refusal: str | None = None

    @property
    def queued(self) -> bool:
        return self.refusal is None


def request_ops(store: Store, operation: str, run_ids: list[int], *, origin: str,
                experiment: ExperimentRead | None = None,
                config: dict[str, Any] | None = None,
                config_patch: dict[str, Any] | None = None,
                warm_start: bool = False) -> list[OpOutcome]:
    """Request one op per run, each in its own write transaction; refusals do not stop the rest.

    A clone takes `config` (its whole config) or `config_patch` (a merge patch on each run's)."""
    outcomes = []
    for run_id in run_ids:
        try:
            with store.write() as session:
                op = ic_ops.request_op(session, operation, run_id=run_id, origin=origin,
                                       config=config, config_patch=config_patch,
                                       warm_start=warm_start)
        except StoreError as exc:
            outcomes.append(OpOutcome(operation, run_id, refusal=exc.message))
            continue
        outcomes.append(OpOutcome(operation, run_id, op.ic_id, op.new_run_id))
        if experiment is not None:
            _log_request(experiment, op.ic_id, operation, run_id, op.new_run_id, origin)
    return outcomes


def _log_request(experiment: ExperimentRead, ic_id: int, operation: str, run_id: int,
                 new_run_id: int | None, origin: str) -> None:
    message = f"{VERBS[operation]} of run {run_id} requested by {origin} (op {ic_id})"
    if new_run_id is not None:
        message += f"; new run {new_run_id}"
    try:
        experiment_log.append(experiment.experiment_path, experiment.name, "console", "INFO",
                              message)
    except OSError:
        pass  # the op is queued; a log folder we cannot write must not undo that


def summarize(outcomes: list[OpOutcome]) -> tuple[str, bool]:
    """One notification text for a batch of outcomes, and whether any was refused."""
    if not outcomes:
        return "No runs selected.", True
    verb = VERBS[outcomes[0].operation].capitalize()
    queued = [o for o in outcomes if o.queued]
    refused = [o for o in outcomes if not o.queued]
    lines = []
    if queued:
        if outcomes[0].operation == "CLONE_MODIFY":
            lines += [f"Clone of run {o.run_id} queued as new run {o.new_run_id} (op {o.ic_id})."
                      for o in queued]
        else:
            ids = ", ".join(f"{o.run_id} (op {o.ic_id})" for o in queued)
            lines.append(f"{verb} queued for run {ids}.")
    lines += [o.refusal or "" for o in refused]
    return "\n".join(lines), bool(refused)
