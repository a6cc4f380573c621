"""Where an experiment's logs and checkpoints live when the caller does not say."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import IO

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

from platformdirs import user_data_dir
from rfconsole.db import ConflictError, Store

EXPERIMENTS_FOLDER = "experiments"


def folder_name(experiment_name: str) -> str:
    """A file-system-safe folder name for an experiment (the name itself is never a path)."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", experiment_name).strip("._") or "experiment"
    return safe[:120]


def default_experiment_path(store: Store, experiment_name: str) -> Path:
    """`<folder of the SQLite file>/experiments/<name>` (other databases: the user data folder)."""
    database_file = store.path
    if database_file:
        base = Path(database_file).parent
    else:
        base = Path(user_data_dir("rfconsole", appauthor=False))
    return (base / EXPERIMENTS_FOLDER / folder_name(experiment_name)).resolve()


def fresh_experiment_folder(store: Store, experiment_name: str,
                            requested: str | os.PathLike[str] | None = None) -> Path:
    """The folder of a new experiment, which must not hold another one's checkpoints.

    A default folder left by an experiment of the same name in another (or a
    deleted) database gets a numbered sibling instead; a folder the caller chose
    is refused if it holds checkpoints, since they would be taken for this
    experiment's own.
    """
    if requested is not None:
        path = Path(requested).expanduser().resolve()
        if _has_checkpoints(path):
            raise ConflictError(
                f"The folder {path} already holds another experiment's checkpoints; "
                f"choose an empty folder for experiment {experiment_name!r}."
            )
        return path
    base = default_experiment_path(store, experiment_name)
    path, number = base, 2
    while _has_checkpoints(path) or (path / "controller.lock").exists():
        path, number = base.with_name(f"{base.name}-{number}"), number + 1
    return path


def _has_checkpoints(path: Path) -> bool:
    folder = path / "checkpoints"
    return folder.is_dir() and any(folder.iterdir())


class ExperimentLock:
    """An exclusive lock on `<experiment path>/controller.lock`, held while a controller runs.

    Two controllers on one experiment would both apply its ops; the second one is
    refused instead. The operating system drops the lock when the holder dies
    (even by kill -9), so a restart after a crash is never blocked.
    """

    def __init__(self, experiment_path: Path, experiment_name: str) -> None:
        self.path = experiment_path / "controller.lock"
        self.experiment_name = experiment_name
        self._handle: IO[str] | None = None

    def acquire(self) -> None:
        if fcntl is None:  # no advisory locks on this platform
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held until release()
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise ConflictError(
                f"Experiment {self.experiment_name!r} is already being run by {holder}; "
                f"stop that controller first or use another experiment name."
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"process {os.getpid()}\n")
        handle.flush()
        self._handle = handle

    def release(self) -> None:
        if self._handle is not None:
            self._handle.close()  # closing the file drops the lock
            self._handle = None
