"""What the controller keeps in memory about each run it trains, and where a position lands."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rfconsole.db import ACTIVE_RUN_STATUSES, RunRead

# ended_by of the runs a cancelled experiment left STOPPED; a restart puts them back in rotation.
ENDED_BY_CANCEL = "experiment cancelled"


@dataclass
class LiveRun:
    """A run in the rotation: NEW or ONGOING, with its model while it is loaded."""

    run_id: int
    config: dict[str, Any]
    position: int  # chunks trained so far, across epochs (num_chunks_visited)
    completed_steps: int
    status: str = "NEW"
    model: Any = field(default=None, repr=False)  # None: rebuild from the checkpoint first
    announced: bool = False  # "run started" said already
    lineage: str = ""  # e.g. " (warm clone of run 3)", for the "run started" line
    checkpoint_path: str | None = None  # the committed checkpoint (the one its row names)
    restarts: int = 0  # times its worker was lost and it restarted from its checkpoint

    @classmethod
    def from_read(cls, run: RunRead, position: int, completed_steps: int) -> LiveRun:
        return cls(
            run_id=run.run_id,
            config=dict(run.config_leaf),
            position=position,
            completed_steps=completed_steps,
            status=run.status if run.status in ACTIVE_RUN_STATUSES else "ONGOING",
            checkpoint_path=run.checkpoint_path,
        )


def progress_fields(position: int, num_chunks: int, num_epochs: int) -> dict[str, int]:
    """The run columns that describe `position` chunks trained (epoch and chunk are 1-based)."""
    if position <= 0:
        return {"num_chunks_visited": 0, "current_epoch": 0, "current_chunk": 0,
                "num_epochs_completed": 0}
    last = position - 1
    return {
        "num_chunks_visited": position,
        "current_epoch": last // num_chunks + 1,
        "current_chunk": last % num_chunks + 1,
        "num_epochs_completed": min(num_epochs, position // num_chunks),
    }


def error_text(exc: BaseException) -> str:
    """One line naming the exception, as kept in a run's error column."""
    message = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__
