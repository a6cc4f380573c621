"""PyTorch runs under the real controller: an experiment ended and resumed from its checkpoint
files trains exactly as one that never stopped."""

from __future__ import annotations

import os

import pytest

# Slow as a whole (importing torch takes seconds): see TORCH_TEST_MODULES in conftest.py.
pytestmark = pytest.mark.slow

# CI installs the torch extra, so there a missing PyTorch is a failure, not a skip; a CI job on a
# Python without a CPU build of torch sets RFCONSOLE_TORCH_TESTS=optional.
if os.environ.get("CI", "").lower() in ("1", "true", "yes") \
        and os.environ.get("RFCONSOLE_TORCH_TESTS") != "optional":
    import sklearn  # noqa: F401
    import torch  # noqa: F401
else:
    pytest.importorskip("torch", reason="needs PyTorch: pip install 'rfconsole[torch]'")
    pytest.importorskip("sklearn", reason="needs scikit-learn: pip install 'rfconsole[torch]'")

from rfconsole.controller import events  # noqa: E402
from rfconsole.controller.demo import make_demo_controller  # noqa: E402
from rfconsole.db import experiments, metrics, runs  # noqa: E402


def histories(store, name):
    with store.read() as session:
        experiment = experiments.get_experiment_by_name(session, name)
        found = []  # in run order
        for run in sorted(runs.list_runs(session, experiment_id=experiment.id), key=lambda r: r.run_id):
            points = metrics.metric_history(session, run_id=run.run_id,
                                            names=["train_loss", "val_loss"])
            found.append({name: [p.value for p in values] for name, values in points.items()})
    return found


@pytest.mark.slow
def test_an_experiment_resumed_from_its_checkpoint_files_trains_bit_for_bit(store):
    shape = {"runs": 2, "chunks": 3, "epochs": 2, "pace": 0, "trainer": "torch"}
    assert make_demo_controller(store, experiment="straight", **shape).run().status == "completed"

    holder = {}

    def end_midway(event):
        if event.kind == events.CHUNK_DONE and event.run_id is not None \
                and event.details["position"] == 2:
            holder["controller"].request_end()

    holder["controller"] = make_demo_controller(store, experiment="halted", on_event=end_midway,
                                                **shape)
    assert holder["controller"].run().status == "cancelled"
    halted = histories(store, "halted")
    assert 0 < min(len(h["train_loss"]) for h in halted) < 6  # it did stop midway
    # Another controller: nothing in memory, the checkpoints are read from their files.
    again = make_demo_controller(store, experiment="halted", pace=0)
    assert again.run().status == "completed"
    assert histories(store, "halted") == histories(store, "straight")
