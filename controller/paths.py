"""Where an experiment's logs and checkpoints live when the caller does not say."""

from __future__ import annotations

import re
from pathlib import Path

from platformdirs import user_data_dir
from rfconsole.db import Store

EXPERIMENTS_FOLDER = "experiments"


def folder_name(experiment_name: str) -> str:
    """A file-system-safe folder name for an experiment (the name itself is never a path)."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", experiment_name).strip("._") or "experiment"
    return safe[:120]


def default_experiment_path(store: Store, experiment_name: str) -> Path:
    """`<folder of the SQLite file>/experiments/<name>`, or the user data folder for other databases."""
    database_file = store.path
    base = Path(database_file).parent if database_file else Path(user_data_dir("rfconsole", appauthor=False))
    return (base / EXPERIMENTS_FOLDER / folder_name(experiment_name)).resolve()
