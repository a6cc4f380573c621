"""Checkpoints: one file per run under `<experiment path>/checkpoints/`, plus an in-memory copy.

A checkpoint is the trainer's state snapshot together with the position it was
taken at (chunks trained, steps done), so that a restarted controller knows
exactly where the saved model stands. Files are written to a temporary name and
moved into place with os.replace, so a crash never leaves half a checkpoint.
The latest checkpoint of every run also stays in memory: resuming a stopped run
or warm-starting a clone in the same process reads no file.
"""

from __future__ import annotations

import os
import pickle
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHECKPOINT_FOLDER = "checkpoints"


@dataclass(frozen=True)
class Checkpoint:
    state: Any
    position: int
    completed_steps: int


class CheckpointStore:
    """Save, load and drop run checkpoints; safe to call from several worker threads."""

    def __init__(self, experiment_path: str | os.PathLike[str],
                 keep_in_memory: bool = True) -> None:
        self.folder = Path(experiment_path) / CHECKPOINT_FOLDER
        self.keep_in_memory = keep_in_memory  # off for models too big to hold twice
        self._latest: dict[int, Checkpoint] = {}
        self._lock = threading.Lock()

    def path_for(self, run_id: int) -> Path:
        return self.folder / f"run_{run_id}.ckpt"

    def save(self, run_id: int, checkpoint: Checkpoint) -> Path:
        """Write the checkpoint atomically and keep it in memory; returns its file."""
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.path_for(run_id)
        temporary = path.with_name(f"{path.name}.{threading.get_ident()}.tmp")
        try:
            with open(temporary, "wb") as handle:
                pickle.dump(checkpoint, handle, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(temporary, path)
        except BaseException:
            temporary.unlink(missing_ok=True)  # the previous checkpoint stays whole
            raise
        if self.keep_in_memory:
            with self._lock:
                self._latest[run_id] = checkpoint
        return path

    def load(self, run_id: int, path: str | os.PathLike[str] | None = None) -> Checkpoint | None:
        """The run's latest checkpoint: from memory, else from its file, else None."""
        with self._lock:
            cached = self._latest.get(run_id)
        if cached is not None:
            return cached
        file = Path(path) if path else self.path_for(run_id)
        if not file.is_file():
            return None
        with open(file, "rb") as handle:
            checkpoint = pickle.load(handle)  # our own file, written by save()
        if not isinstance(checkpoint, Checkpoint):
            raise ValueError(f"{file} is not an rfconsole checkpoint")
        if self.keep_in_memory:
            with self._lock:
                self._latest[run_id] = checkpoint
        return checkpoint

    def drop(self, run_id: int) -> None:
        """Forget the run's state, in memory and on disk (a deleted run)."""
        with self._lock:
            self._latest.pop(run_id, None)
        self.path_for(run_id).unlink(missing_ok=True)

    def forget(self, run_id: int) -> None:
        """Free the in-memory copy only (a finished run); the file stays for warm clones."""
        with self._lock:
            self._latest.pop(run_id, None)
