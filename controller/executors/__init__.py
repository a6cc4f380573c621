"""Where chunks train: threads of the controller's process, or Ray actors on a cluster.

The runner and the op executor talk to one `Executor` (`base.py`) and never ask
which kind it is. `make_executor` picks one:

- `threads.py` (the default): a thread pool in this process; models live in the
  controller's memory, as they always have.
- `ray_executor.py` with `ray_actor.py`: one Ray actor per live run, placed with
  the run's resource request; the actor holds the model, trains its chunks and
  writes its checkpoints. The scheduling, the op rules and every database write
  stay in the controller.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rfconsole.db import InvalidError

from ..checkpoints import CheckpointStore
from ..trainer import Trainer
from .base import ClonePrepared, Executor, ExecutorUnavailable

EXECUTORS = ("threads", "ray")

__all__ = ["EXECUTORS", "ClonePrepared", "Executor", "ExecutorUnavailable", "make_executor"]


def make_executor(kind: str, *, trainer: Trainer, checkpoints: CheckpointStore, workers: int,
                  shape: tuple[int, int], pace: float, ray_address: str | None = None,
                  resources_per_run: Mapping[str, Any] | None = None) -> Executor:
    """The executor of that kind; ExecutorUnavailable says in one sentence why not."""
    if kind == "threads":
        from .threads import ThreadExecutor

        return ThreadExecutor(trainer, checkpoints, workers, shape, pace)
    if kind == "ray":
        from .ray_executor import RayExecutor, require_ray

        require_ray()
        return RayExecutor(trainer, checkpoints, workers, shape, pace, address=ray_address,
                           resources_per_run=resources_per_run)
    raise InvalidError(f"There is no executor {kind!r}; choose one of {', '.join(EXECUTORS)}.")
