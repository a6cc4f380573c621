"""The demo experiment: what `rfconsole demo` runs.

The numpy trainer (the default) lives in `numpy_demo.py`, the PyTorch one in
`torch/demo.py`; `demo_trainers.py` picks one. This module names the demo
experiment, builds its Controller and prints the command that resumes it. The
numpy trainer's names are re-exported here, where the demo's users look for them.
"""

from __future__ import annotations

import os
import shlex
from datetime import datetime, timezone
from pathlib import Path

from rfconsole.db import NotFoundError, Store, experiments, mask_url

from .demo_trainers import demo_trainer, trainer_of
from .events import EventListener
from .numpy_demo import CONFIG_SCHEMA, DemoTrainer, demo_configs
from .paths import folder_name
from .runner import Controller

__all__ = ["CONFIG_SCHEMA", "DemoTrainer", "demo_configs", "fresh_demo_name", "make_demo_controller",
           "resume_command"]


def fresh_demo_name(store: Store) -> str:
    """`demo-YYYYmmdd-HHMMSS` (UTC), with a suffix if that name is taken."""
    base = f"demo-{datetime.now(timezone.utc):%Y%m%d-%H%M%S}"
    with store.read() as session:
        taken = set(experiments.list_experiment_names(session))
    name, suffix = base, 2
    while name in taken:
        name, suffix = f"{base}-{suffix}", suffix + 1
    return name


def resume_command(experiment: str, db: str | None, *, headless: bool = False,
                   trainer: str = "numpy", ray_address: str | None = None) -> str:
    """The command that resumes the demo experiment, on the same database, ready to paste.

    Without --db the default database would be used, where the name starts a new
    experiment; a database given by RFCONSOLE_DB is left to the environment, and
    a password in a --db URL is shown as `***` (a terminal's scrollback is no place
    for it: the user types it back in).
    """
    words = ["rfconsole", "demo"] + (["--headless"] if headless else [])
    words += ["--trainer", trainer] if trainer != "numpy" else []
    if ray_address is not None and ray_address != os.environ.get("RFCONSOLE_RAY_ADDRESS"):
        words += ["--ray", ray_address] if ray_address else ["--ray"]  # on Ray again
    if db and db != os.environ.get("RFCONSOLE_DB"):
        words += ["--db", mask_url(db)]
    return shlex.join(words + ["--experiment", experiment])


def make_demo_controller(
    store: Store,
    *,
    experiment: str | None = None,
    runs: int = 6,
    chunks: int = 30,
    epochs: int = 5,
    pace: float = 0.8,
    workers: int = 1,
    on_event: EventListener | None = None,
    trainer: str = "numpy",  # or "torch" (see demo_trainers); a resumed experiment keeps its own
    mlflow_tracking_uri: str | None = None,
    ray_address: str | None = None,  # None: threads; "": Ray, found as ray.init() finds it
    experiments_dir: str | None = None,  # a new experiment's folder goes under it
) -> Controller:
    """The demo's Controller; an existing unfinished experiment of that name is resumed.

    The defaults (6 runs x 30 chunks x 5 epochs, at least 0.8 s a chunk, one
    worker) give at least 12 minutes of live training: time to try every op.
    """
    name = experiment or fresh_demo_name(store)
    if experiment:
        try:
            with store.read() as session:
                existing = experiments.get_experiment_by_name(session, experiment)
            chunks, epochs = existing.num_chunks, existing.num_epochs
            trainer = trainer_of(existing.config_schema)
        except NotFoundError:
            pass
    chosen, configs_for = demo_trainer(trainer)
    return Controller(store, name, configs_for(runs), chosen, num_chunks=chunks,
                      num_epochs=epochs, workers=workers, pace=pace, on_event=on_event,
                      mlflow_tracking_uri=mlflow_tracking_uri,
                      executor="threads" if ray_address is None else "ray",
                      ray_address=ray_address or None,
                      experiment_path=Path(experiments_dir).expanduser() / folder_name(name)
                      if experiments_dir else None)
