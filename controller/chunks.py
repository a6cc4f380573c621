"""One chunk of one run, as a worker thread does it: train, checkpoint, keep the pace."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from .checkpoints import Checkpoint, CheckpointStore
from .interrupts import InterruptWatch
from .live import LiveRun, error_text
from .trainer import ChunkContext, Trainer, split_result

LOGGER = logging.getLogger("rfconsole.controller")


@dataclass
class ChunkOutcome:
    run_id: int
    metrics: dict[str, float] = field(default_factory=dict)
    steps: int = 0
    interrupted: bool = False  # the trainer gave way to a stop, a delete or the end
    error: str | None = None
    lost: str | None = None  # the process or node training it died (the run may be restarted)
    checkpoint_path: str | None = None
    started: float = 0.0  # time.monotonic() at the chunk's start and end
    ended: float = 0.0


class ChunkTrainer:
    """Trains chunks for the controller; `train` is safe to call from several threads at once."""

    def __init__(self, trainer: Trainer, checkpoints: CheckpointStore, watch: InterruptWatch,
                 shape: tuple[int, int], pace: float, end_requested: threading.Event) -> None:
        self.trainer = trainer
        self.checkpoints = checkpoints
        self.watch = watch
        self.num_chunks, self.num_epochs = shape
        self.pace = pace
        self._end_requested = end_requested

    def train(self, live: LiveRun) -> ChunkOutcome:
        """Train the run's next chunk; never raises (a trainer's error is in the outcome)."""
        started = time.monotonic()
        outcome = ChunkOutcome(run_id=live.run_id, started=started)
        asked_to_stop = False

        def should_stop() -> bool:
            nonlocal asked_to_stop
            if self.watch.should_stop(live.run_id):
                asked_to_stop = True
            return asked_to_stop

        context = ChunkContext(
            run_id=live.run_id, config=live.config, epoch=live.position // self.num_chunks,
            chunk=live.position % self.num_chunks, num_chunks=self.num_chunks,
            num_epochs=self.num_epochs, position=live.position, should_stop=should_stop)
        try:
            if live.model is None:
                live.model = self.build_model(live)
            result = self.trainer.train_chunk(live.model, context)
            if asked_to_stop:  # a partial chunk: thrown away, the checkpoint stays the truth
                live.model = None
                outcome.interrupted = True
            else:
                outcome.metrics, outcome.steps = split_result(result)
                checkpoint = Checkpoint(self.trainer.get_state(live.model), live.position + 1,
                                        live.completed_steps + outcome.steps)
                outcome.checkpoint_path = str(self.checkpoints.save(live.run_id, checkpoint))
                self._keep_pace(live.run_id, started)
        except Exception as exc:  # the run fails alone
            LOGGER.exception("run %s failed", live.run_id)
            live.model = None
            outcome.error = error_text(exc)
        outcome.ended = time.monotonic()
        return outcome

    def build_model(self, live: LiveRun) -> Any:
        """A model for the run, loaded from its checkpoint when it has one."""
        model = self.trainer.create_model(live.config)
        checkpoint = self.checkpoints.load(live.run_id, live.checkpoint_path)
        if checkpoint is not None:
            self.trainer.set_state(model, checkpoint.state)
        return model

    def _keep_pace(self, run_id: int, started: float) -> None:
        """Wait out the rest of the minimum chunk time, unless the run is wanted elsewhere."""
        while self.pace > 0:
            left = started + self.pace - time.monotonic()
            if left <= 0 or self.watch.should_stop(run_id):
                return
            self._end_requested.wait(min(left, 0.05))
