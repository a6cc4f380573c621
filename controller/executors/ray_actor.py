"""What runs on the cluster: one actor per live run, and the task that starts a clone.

Nothing here imports Ray: the Ray executor wraps `RunActor` and `prepare_clone`
with `ray.remote` when it starts. The actor holds the run's model between chunks,
trains them with the same `ChunkTrainer` as the thread executor, and writes the
run's checkpoints itself, signed, under the experiment's folder (which every
node must reach); only the outcome of a chunk goes back to the controller.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from ..checkpoints import CheckpointStore
from ..chunks import ChunkOutcome, ChunkTrainer
from ..interrupts import InterruptWatch
from ..live import LiveRun
from ..trainer import Trainer
from .base import ClonePrepared
from .clones import build_clone


class RunActor:
    """One run's model and its chunks. Ray calls `interrupt` while `train` runs (the actor is
    threaded), so a stop reaches a chunk in progress through its `should_stop()`."""

    def __init__(self, trainer: Trainer, run_id: int, config: dict[str, Any],
                 experiment_path: str, shape: tuple[int, int], pace: float) -> None:
        self.run_id = run_id
        self._end = threading.Event()  # never set: the controller ends chunks by interrupting
        self._watch = InterruptWatch(self._end)
        # The actor holds the live model, so the checkpoint store keeps no second copy.
        self._chunks = ChunkTrainer(trainer, CheckpointStore(experiment_path, keep_in_memory=False),
                                    self._watch, shape, pace, self._end)
        self._live = LiveRun(run_id=run_id, config=config, position=0, completed_steps=0)
        self._lock = threading.Lock()
        self._chunk = 0  # the number the controller gave the chunk training now
        self._stop_chunk = 0  # the latest chunk the controller asked to give way

    def train(self, chunk: int, position: int, completed_steps: int,
              checkpoint_path: str | None) -> ChunkOutcome:
        """Train the chunk at `position`, from the model in memory if it stands there, else
        from the committed checkpoint the controller names."""
        with self._lock:
            self._chunk = chunk
            if self._stop_chunk >= chunk:
                self._watch.flag(self.run_id)
            else:
                self._watch.clear(self.run_id)
        live = self._live
        if live.position != position or live.checkpoint_path != checkpoint_path:
            live.model = None  # the controller's record is the truth
        live.position, live.completed_steps, live.checkpoint_path = (
            position, completed_steps, checkpoint_path)
        outcome = self._chunks.train(live)
        if not outcome.interrupted and outcome.error is None:
            live.position += 1
            live.completed_steps += outcome.steps
            live.checkpoint_path = outcome.checkpoint_path
        return outcome

    def interrupt(self, chunk: int) -> None:
        """The chunk numbered `chunk` (training now, or about to) should give way."""
        with self._lock:
            self._stop_chunk = max(self._stop_chunk, chunk)
            if self._chunk == chunk:
                self._watch.flag(self.run_id)

    def where(self) -> dict[str, Any]:
        """The process and the Ray node the actor runs in (for tests and diagnostics)."""
        import ray  # only ever called on the cluster

        return {"pid": os.getpid(), "node_id": ray.get_runtime_context().get_node_id()}


def prepare_clone(trainer: Trainer, experiment_path: str, clone_id: int, config: dict[str, Any],
                  parent_id: int, parent_checkpoint: str | None, warm: bool,
                  total_chunks: int) -> ClonePrepared:
    """`build_clone` on the cluster: the model stays there (the result carries none)."""
    checkpoints = CheckpointStore(experiment_path, keep_in_memory=False)
    prepared = build_clone(trainer, checkpoints, clone_id, config, parent_id, parent_checkpoint,
                           warm, total_chunks)
    return ClonePrepared(prepared.position, prepared.completed_steps, prepared.checkpoint_path)
