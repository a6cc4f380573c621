"""Queue IC ops from the console through the data layer's rules (the same as the dispatcher's)."""

from __future__ import annotations

import getpass
import socket
from dataclasses import dataclass
from typing import Any

from rfconsole.db import Store, experiment_log, ic_ops
from rfconsole.db.errors import StoreError
from rfconsole.db.models import OP_VERBS, ExperimentRead
from textual.binding import Binding

VERBS = OP_VERBS  # re-exported for the console's screens
READONLY_MESSAGE = "The console is read-only (--readonly): IC ops are turned off."
OP_ACTIONS = ("stop", "resume", "delete", "clone")
# In --readonly the op keys are out of the footer and the help, and this binding takes them
# to say why nothing happens.
READONLY_OPS = Binding("s,r,d,c", "read_only", "Read-only", show=False,
                       tooltip="IC ops are turned off: the console is read-only (--readonly)")


def op_key_allowed(action: str, readonly: bool) -> bool:
    """Whether a screen's binding for `action` is active (op keys swap in --readonly)."""
    if action in OP_ACTIONS:
        return not readonly
    if action == "read_only":
        return readonly
    return True


# An experiment that has ended this way takes no more ops (the data layer refuses them too).
CLOSED_EXPERIMENT_STATUSES = ("completed", "failed")


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
        experiment_log.append(experiment.experiment_path, experiment.name, experiment_log.CONSOLE, "INFO",
                              message)
    except OSError:
        pass  # the op is queued; a log folder we cannot write must not undo that


def plural(count: int, word: str) -> str:
    """`1 run`, `2 runs`."""
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _id_list(ids: list[int]) -> str:
    """`4`, `4, 5 and 6`, or `4 to 13` when they follow each other."""
    if len(ids) > 3 and ids == list(range(ids[0], ids[0] + len(ids))):
        return f"{ids[0]} to {ids[-1]}"
    if len(ids) > 3:
        return ", ".join(map(str, ids[:3])) + f" and {len(ids) - 3} more"
    return ", ".join(map(str, ids[:-1])) + (" and " if len(ids) > 1 else "") + str(ids[-1])


def summarize(outcomes: list[OpOutcome]) -> tuple[str, bool]:
    """One short notification for a batch of outcomes (a few lines even for many runs), and
    whether any was refused."""
    if not outcomes:
        return "No runs selected.", True
    operation = outcomes[0].operation
    verb = VERBS[operation].capitalize()
    queued = [o for o in outcomes if o.queued]
    refused = [o for o in outcomes if not o.queued]
    lines = []
    if len(queued) == 1 and operation == "CLONE_MODIFY":
        o = queued[0]
        lines.append(f"Clone of run {o.run_id} queued as new run {o.new_run_id} (op {o.ic_id}).")
    elif len(queued) == 1:
        lines.append(f"{verb} queued for run {queued[0].run_id} (op {queued[0].ic_id}).")
    elif queued:
        runs = _id_list([o.run_id for o in queued])
        op_ids = _id_list([o.ic_id for o in queued if o.ic_id is not None])
        lines.append(f"{verb} queued for {len(queued)} runs ({runs}; ops {op_ids}).")
        if operation == "CLONE_MODIFY":
            new = _id_list([o.new_run_id for o in queued if o.new_run_id is not None])
            lines.append(f"New runs {new}.")
    if len(refused) <= 2:
        lines += [o.refusal or "" for o in refused]
    else:
        lines.append(f"{refused[0].refusal} {len(refused) - 1} more runs were refused "
                     f"({_id_list([o.run_id for o in refused[1:]])}).")
    return "\n".join(lines), bool(refused)
