"""Controller events: one per thing that happens, sent to the experiment log and to a listener.

The experiment log gets every run start, stop, completion and
failure (component `controller`) and every op received, applied, skipped or
failed (component `interactive-control`), and what the MLflow mirror has to say
(unreachable, caught up again). Chunk completions go to the listener only (the
headless demo prints them); the log stays a record of events.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rfconsole.db import experiment_log

LOGGER = logging.getLogger("rfconsole.controller")

CONTROLLER = experiment_log.CONTROLLER
INTERACTIVE_CONTROL = experiment_log.INTERACTIVE_CONTROL

# Event kinds.
EXPERIMENT_STARTED = "experiment_started"
EXPERIMENT_WAITING = "experiment_waiting"
EXPERIMENT_ENDED = "experiment_ended"
RUN_STARTED = "run_started"
CHUNK_DONE = "chunk_done"
RUN_STOPPED = "run_stopped"
RUN_RESUMED = "run_resumed"
RUN_DELETED = "run_deleted"
RUN_COMPLETED = "run_completed"
RUN_FAILED = "run_failed"
RUN_RESTARTED = "run_restarted"  # its worker (a Ray actor or node) was lost mid-chunk
OP_RECEIVED = "op_received"
OP_APPLIED = "op_applied"
OP_SKIPPED = "op_skipped"
OP_FAILED = "op_failed"
MIRROR_WARNING = "mirror_warning"  # the MLflow mirror cannot write (it retries)
MIRROR_INFO = "mirror_info"  # the MLflow mirror caught up

_LOGGED_AS = {
    EXPERIMENT_STARTED: (CONTROLLER, "INFO"),
    EXPERIMENT_WAITING: (CONTROLLER, "INFO"),
    EXPERIMENT_ENDED: (CONTROLLER, "INFO"),
    RUN_STARTED: (CONTROLLER, "INFO"),
    RUN_STOPPED: (CONTROLLER, "INFO"),
    RUN_RESUMED: (CONTROLLER, "INFO"),
    RUN_DELETED: (CONTROLLER, "INFO"),
    RUN_COMPLETED: (CONTROLLER, "INFO"),
    RUN_FAILED: (CONTROLLER, "ERROR"),
    RUN_RESTARTED: (CONTROLLER, "WARNING"),
    OP_RECEIVED: (INTERACTIVE_CONTROL, "INFO"),
    OP_APPLIED: (INTERACTIVE_CONTROL, "INFO"),
    OP_SKIPPED: (INTERACTIVE_CONTROL, "WARNING"),
    OP_FAILED: (INTERACTIVE_CONTROL, "ERROR"),
    MIRROR_WARNING: (CONTROLLER, "WARNING"),
    MIRROR_INFO: (CONTROLLER, "INFO"),
}


@dataclass(frozen=True)
class ControllerEvent:
    kind: str
    message: str
    run_id: int | None = None
    ic_id: int | None = None
    metrics: Mapping[str, float] = field(default_factory=dict)
    details: Mapping[str, Any] = field(default_factory=dict)


EventListener = Callable[[ControllerEvent], None]


class EventReporter:
    """Writes events to the experiment log and hands them to the listeners (the user's
    `on_event`, the MLflow mirror); `emit` may be called from any thread."""

    def __init__(self, experiment_path: Path, experiment_name: str,
                 listener: EventListener | None = None) -> None:
        self.experiment_path = experiment_path
        self.experiment_name = experiment_name
        self.listeners: list[EventListener] = [listener] if listener is not None else []

    def emit(self, kind: str, message: str, **fields: Any) -> None:
        event = ControllerEvent(kind=kind, message=message, **fields)
        logged = _LOGGED_AS.get(kind)
        if logged is not None:
            component, level = logged
            try:
                experiment_log.append(
                    self.experiment_path, self.experiment_name, component, level, message
                )
            except OSError as exc:  # a full disk must not stop training
                LOGGER.warning("could not write the experiment log: %s", exc)
        for listener in self.listeners:
            try:
                listener(event)
            except Exception:  # a listener's bug must not stop training either
                LOGGER.exception("the controller event listener failed")


TRACEBACK_LOG = "controller.log"


@contextmanager
def tracebacks_to_file(experiment_path: Path) -> Iterator[None]:
    """While the experiment runs, the controller's warnings and tracebacks go to
    `<experiment path>/logs/controller.log`, never to the user's terminal.

    (With a handler attached, Python's last-resort stderr handler stays quiet;
    records still propagate to any handlers the application set up itself.)
    """
    folder = experiment_path / experiment_log.LOG_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(folder / TRACEBACK_LOG, encoding="utf-8", delay=True)
    handler.setLevel(logging.WARNING)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(threadName)s: %(message)s"))
    LOGGER.addHandler(handler)
    try:
        yield
    finally:
        LOGGER.removeHandler(handler)
        handler.close()


def plural(count: int, word: str) -> str:
    """`1 chunk`, `2 chunks`: the experiment log speaks like a person."""
    return f"{count} {word}" if count == 1 else f"{count} {word}s"
