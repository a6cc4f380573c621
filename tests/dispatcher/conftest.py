"""Dispatcher fixtures: a seeded experiment on a fresh database file, the app, a test client."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from rfconsole.db import Store, experiment_log, experiments, metrics, runs
from rfconsole.dispatcher import create_app

CONFIG_SCHEMA = {
    "type": "object",
    "properties": {"learning_rate": {"type": "number", "exclusiveMinimum": 0}},
}


@dataclass(frozen=True)
class Seeded:
    """Ids of the seeded runs, by their status."""

    experiment_id: int
    experiment_name: str
    experiment_path: Path
    ongoing: int  # has a checkpoint
    new: int
    completed: int
    stopped: int
    failed: int


def seed_experiment(store: Store, root: Path, name: str = "exp-a") -> Seeded:
    path = root / "experiments" / name
    with store.write() as session:
        experiment = experiments.create_experiment(
            session, name=name, experiment_path=str(path), num_chunks=4, num_epochs=2,
            config={"dataset": "toy"}, config_schema=CONFIG_SCHEMA,
        )
        ids = {}
        for index, status in enumerate(["ONGOING", "NEW", "COMPLETED", "STOPPED", "FAILED"]):
            run = runs.create_run(
                session, experiment_id=experiment.id, num_chunks=4, num_epochs=2,
                config_leaf={"learning_rate": 0.1 / (index + 1), "model": {"width": 8 * (index + 1)}},
            )
            ids[status] = run.run_id
            if status != "NEW":
                runs.update_run(session, run.run_id, status=status, num_chunks_visited=2 * index,
                                current_chunk=index % 4, metrics={"loss": 1.0 / (index + 1)})
        runs.update_run(session, ids["ONGOING"], checkpoint_path=str(path / "ckpt" / "1"))
        for step in range(1, 6):
            metrics.append_metrics(session, run_id=ids["ONGOING"], values={"loss": 1 / step, "acc": step / 10},
                                   epoch=0, chunk=step % 4, step=step)
    for component, message in [("controller", "experiment started"),
                               ("interactive-control", "stop of run 4 applied"),
                               ("controller", "chunk 1 done"),
                               ("interactive-control", "clone of run 1 started")]:
        experiment_log.append(path, name, component, "INFO", message)
    return Seeded(experiment.id, name, path, ids["ONGOING"], ids["NEW"], ids["COMPLETED"],
                  ids["STOPPED"], ids["FAILED"])


@pytest.fixture
def seeded(store: Store, tmp_path: Path) -> Seeded:
    return seed_experiment(store, tmp_path)


@pytest.fixture
def app(store: Store) -> Flask:
    return create_app(store)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()
