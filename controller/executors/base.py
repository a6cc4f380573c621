"""The interface between the runner and whatever trains the chunks."""

from __future__ import annotations

import threading
from collections.abc import Collection
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Protocol

from rfconsole.db import InvalidError

from ..chunks import ChunkOutcome
from ..interrupts import InterruptWatch
from ..live import LiveRun


class ExecutorUnavailable(InvalidError):
    """The chosen executor cannot run here (Ray missing, or its cluster unreachable)."""


@dataclass(frozen=True)
class ClonePrepared:
    """A clone ready to enter the rotation: where it starts and its first checkpoint."""

    position: int
    completed_steps: int
    checkpoint_path: str | None  # a warm clone's own copy of its parent's state
    model: Any = None  # the model, when the executor keeps models in this process


class Executor(Protocol):
    """Trains chunks for the runner. Called from the controller's main thread only."""

    slots: int  # chunks that may train at once (the controller's `workers`)

    def start(self, watch: InterruptWatch, end_requested: threading.Event) -> None:
        """Get ready to train (start a pool, connect to a cluster); `watch` is the controller's
        stop check, which this process's workers may read."""

    def submit(self, live: LiveRun) -> Future[ChunkOutcome]:
        """Train the run's next chunk; the future never raises (errors are in the outcome)."""

    def interrupt(self, run_ids: Collection[int]) -> None:
        """These runs' chunks should give way now (a stop, a delete, the end)."""

    def retain(self, run_ids: Collection[int]) -> None:
        """Only these runs are live: free whatever holds the others' models."""

    def prepare_clone(self, clone_id: int, config: dict[str, Any], parent_id: int,
                      parent_checkpoint: str | None, warm: bool,
                      total_chunks: int) -> ClonePrepared:
        """Build the clone's model (from the parent's checkpoint when warm) and, when warm,
        write the clone's first checkpoint. Raises when the clone cannot start."""

    def close(self) -> None:
        """Wait for nothing more; free the pool or the actors."""
