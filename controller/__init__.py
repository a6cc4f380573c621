"""The experiment runtime: run configs chunk by chunk, apply IC ops, checkpoint, log events.

`Controller` runs one experiment with a user's `Trainer`; `rfconsole.controller.demo`
has a small numpy trainer and `make_demo_controller` for `rfconsole demo`;
`rfconsole.controller.torch` (the optional `torch` extra) is a trainer base for PyTorch code.
"""

from .checkpoints import Checkpoint, CheckpointStore
from .events import ControllerEvent
from .runner import Controller
from .trainer import ChunkContext, ChunkResult, Trainer

__all__ = [
    "Checkpoint",
    "CheckpointStore",
    "ChunkContext",
    "ChunkResult",
    "Controller",
    "ControllerEvent",
    "Trainer",
]
