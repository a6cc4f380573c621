"""What the runner, the op executor and the chunk workers share about one experiment."""

from __future__ import annotations

from dataclasses import dataclass

from rfconsole.db import RunRead, Store

from .checkpoints import CheckpointStore
from .events import EventReporter
from .executors import Executor
from .interrupts import InterruptWatch
from .live import LiveRun
from .trainer import Trainer


@dataclass(frozen=True)
class ExperimentContext:
    store: Store
    experiment_id: int
    trainer: Trainer
    shape: tuple[int, int]  # (num_chunks, num_epochs)
    checkpoints: CheckpointStore
    reporter: EventReporter
    watch: InterruptWatch
    executor: Executor

    @property
    def total_chunks(self) -> int:
        return self.shape[0] * self.shape[1]

    def restore(self, run: RunRead) -> LiveRun:
        """A run back in the rotation at the checkpoint its row names (position 0 without one).

        Raises CheckpointRefused when that checkpoint is not one the controller wrote
        for this run, or cannot be read.
        """
        checkpoint = self.checkpoints.load(run.run_id, run.checkpoint_path)
        if checkpoint is None:
            return LiveRun.from_read(run, 0, 0)
        return LiveRun.from_read(run, checkpoint.position, checkpoint.completed_steps)
