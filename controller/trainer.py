"""The trainer protocol: the user code the controller drives, one chunk at a time.

A trainer knows how to build a model from a run's config, train it on one chunk
of data, and turn it into a snapshot of its state (a checkpoint) and back:

    class MyTrainer:
        config_schema = {...}                      # optional JSON Schema of configs

        def create_model(self, config): ...        # a fresh model; may raise on a bad config
        def train_chunk(self, model, context): ... # train on one chunk, return its metrics
        def get_state(self, model): ...            # a picklable snapshot, not aliased to the model
        def set_state(self, model, state): ...     # load a snapshot (same or compatible config)

Checkpoints are the `get_state` snapshots, pickled and signed by the controller
under `<experiment path>/checkpoints/` after every chunk; the latest one
of each run also stays in memory, so that a resume or a warm clone reads no
file. A trainer whose states are too big to hold twice sets
`checkpoints_in_memory = False`.

The controller calls `train_chunk` for different runs from several worker
threads at once (with `workers > 1`), never for the same model twice at once.
Long chunks should call `context.should_stop()` now and then (every few steps)
and return promptly when it says True: a stop or delete of the run, or the end
of the experiment, is waiting. The controller then throws the partial chunk
away and the run later restarts that chunk from its last checkpoint.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class ChunkContext:
    """Where a run is: the chunk to train now, and the cooperative stop check.

    `epoch` and `chunk` are 0-based. `position` counts every chunk the run's
    model has trained so far across epochs (`epoch * num_chunks + chunk`); a
    warm-started clone starts at its parent's position, so the data order
    continues where the parent was.
    """

    run_id: int
    config: Mapping[str, Any]
    epoch: int
    chunk: int
    num_chunks: int
    num_epochs: int
    position: int
    should_stop: Callable[[], bool] = field(default=lambda: False, repr=False, compare=False)


@dataclass(frozen=True)
class ChunkResult:
    """What `train_chunk` may return instead of a plain metrics mapping, to count steps."""

    metrics: Mapping[str, float]
    steps: int = 1


@runtime_checkable
class Trainer(Protocol):
    def create_model(self, config: Mapping[str, Any]) -> Any:
        """Build a fresh model for `config`; raising fails that run alone."""

    def train_chunk(self, model: Any, context: ChunkContext) -> Mapping[str, float] | ChunkResult:
        """Train `model` on chunk `context.chunk` of epoch `context.epoch`; return float metrics."""

    def get_state(self, model: Any) -> Any:
        """A picklable snapshot of the model that later training does not change."""

    def set_state(self, model: Any, state: Any) -> None:
        """Load a snapshot made by `get_state` (possibly of the parent run, for warm clones)."""


def split_result(result: Mapping[str, float] | ChunkResult) -> tuple[dict[str, float], int]:
    """The metrics as plain floats and the number of steps a chunk's result reports."""
    if isinstance(result, ChunkResult):
        metrics, steps = result.metrics, int(result.steps)
    else:
        metrics, steps = result, 1
    if not isinstance(metrics, Mapping):
        raise TypeError(f"train_chunk returned {type(metrics).__name__}, not a mapping of metrics")
    return {str(name): float(value) for name, value in metrics.items()}, max(0, steps)
