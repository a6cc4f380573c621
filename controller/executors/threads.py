"""The default executor: chunks train in a thread pool of the controller's own process."""

from __future__ import annotations

import threading
from collections.abc import Collection
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from ..checkpoints import CheckpointStore
from ..chunks import ChunkOutcome, ChunkTrainer
from ..interrupts import InterruptWatch
from ..live import LiveRun
from ..trainer import Trainer
from .base import ClonePrepared
from .clones import build_clone


class ThreadExecutor:
    """Models live in `LiveRun.model`; the stop check reads the controller's InterruptWatch."""

    def __init__(self, trainer: Trainer, checkpoints: CheckpointStore, workers: int,
                 shape: tuple[int, int], pace: float) -> None:
        self.trainer = trainer
        self.checkpoints = checkpoints
        self.slots = workers
        self.shape = shape
        self.pace = pace
        self._pool: ThreadPoolExecutor | None = None
        self._chunks: ChunkTrainer | None = None

    def start(self, watch: InterruptWatch, end_requested: threading.Event) -> None:
        self._pool = ThreadPoolExecutor(self.slots, thread_name_prefix="rfconsole-chunk")
        self._chunks = ChunkTrainer(self.trainer, self.checkpoints, watch, self.shape, self.pace,
                                    end_requested)

    def submit(self, live: LiveRun) -> Future[ChunkOutcome]:
        assert self._pool is not None, "start() first"
        assert self._chunks is not None
        return self._pool.submit(self._chunks.train, live)

    def interrupt(self, run_ids: Collection[int]) -> None:
        """Nothing to do: the workers ask the controller's InterruptWatch themselves."""

    def retain(self, run_ids: Collection[int]) -> None:
        """Nothing to do: a run that leaves the rotation takes its model with it."""

    def prepare_clone(self, clone_id: int, config: dict[str, Any], parent_id: int,
                      parent_checkpoint: str | None, warm: bool,
                      total_chunks: int) -> ClonePrepared:
        return build_clone(self.trainer, self.checkpoints, clone_id, config, parent_id,
                           parent_checkpoint, warm, total_chunks)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
