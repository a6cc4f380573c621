"""Starting a clone: its model, from its parent's checkpoint when warm, and its first checkpoint.

Shared by both executors: the thread executor calls it in the controller, the
Ray executor in a task on the cluster (so the parent's state never passes
through the controller).
"""

from __future__ import annotations

from typing import Any

from ..checkpoints import Checkpoint, CheckpointStore
from ..trainer import Trainer
from .base import ClonePrepared


def build_clone(trainer: Trainer, checkpoints: CheckpointStore, clone_id: int,
                config: dict[str, Any], parent_id: int, parent_checkpoint: str | None,
                warm: bool, total_chunks: int) -> ClonePrepared:
    """The clone's model and start; raises when its config or the parent's state cannot serve."""
    model = trainer.create_model(config)
    if not warm:
        return ClonePrepared(0, 0, None, model)
    checkpoint = checkpoints.load(parent_id, parent_checkpoint)
    if checkpoint is None:
        raise RuntimeError(f"run {parent_id} has no checkpoint to warm-start from")
    trainer.set_state(model, checkpoint.state)
    # Continue the data order where the parent was; a finished parent's weights start a
    # full new schedule.
    position = steps = 0
    if checkpoint.position < total_chunks:
        position, steps = checkpoint.position, checkpoint.completed_steps
    path = checkpoints.save(clone_id, Checkpoint(trainer.get_state(model), position, steps))
    return ClonePrepared(position, steps, str(path), model)
