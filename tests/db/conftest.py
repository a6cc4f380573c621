"""Helpers for data-layer tests: an experiment with runs in chosen states."""

from __future__ import annotations

from typing import Any

import pytest
from rfconsole.db import Store, experiments, runs

SCHEMA = {
    "type": "object",
    "properties": {
        "lr": {"type": "number", "exclusiveMinimum": 0},
        "model": {
            "type": "object",
            "properties": {"width": {"type": "integer", "minimum": 1}},
        },
    },
    "required": ["lr"],
}


class Seeder:
    def __init__(self, store: Store) -> None:
        self.store = store
        with store.write() as session:
            self.experiment = experiments.create_experiment(
                session,
                name="exp",
                experiment_path="/nonexistent",
                num_chunks=4,
                num_epochs=2,
                config_schema=SCHEMA,
            )

    def run(self, status: str = "NEW", config: dict[str, Any] | None = None,
            checkpoint: bool = False) -> int:
        with self.store.write() as session:
            run = runs.create_run(
                session,
                experiment_id=self.experiment.id,
                config_leaf=config or {"lr": 0.1, "model": {"width": 8}},
                num_chunks=4,
                num_epochs=2,
            )
            fields: dict[str, Any] = {}
            if status != "NEW":
                fields["status"] = status
            if checkpoint:
                fields["checkpoint_path"] = "/ckpt/run.npz"
            if fields:
                runs.update_run(session, run.run_id, **fields)
        return run.run_id


@pytest.fixture
def seed(store: Store) -> Seeder:
    return Seeder(store)
