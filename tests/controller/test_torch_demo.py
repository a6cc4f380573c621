"""`rfconsole demo --trainer torch`: PyTorch MLPs on the bundled digits, under the real controller."""

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

from rfconsole.console.cli import main  # noqa: E402
from rfconsole.controller import events  # noqa: E402
from rfconsole.controller.demo import make_demo_controller, resume_command  # noqa: E402
from rfconsole.controller.demo_trainers import trainer_of  # noqa: E402
from rfconsole.controller.torch.demo import TorchDemoTrainer, torch_demo_configs  # noqa: E402
from rfconsole.db import Store, configs, experiments, ic_ops, metrics, runs  # noqa: E402

CHANCE = 0.1  # ten digits


def history(store, run_id, name):
    with store.read() as session:
        points = metrics.metric_history(session, run_id=run_id, names=[name])[name]
    return [point.value for point in points]


def test_the_torch_demo_configs_follow_its_schema_and_differ():
    trainer = TorchDemoTrainer()
    found = torch_demo_configs(6)
    for config in found:
        configs.validate_config(config, trainer.config_schema)
        trainer.create_model(config)
    assert len({c["optimizer"]["learning_rate"] for c in found}) > 1
    assert len({c["model"]["hidden_width"] for c in found}) > 1
    with pytest.raises(ValueError, match="cannot build a model"):
        trainer.create_model({"optimizer": {"learning_rate": -1}})


@pytest.mark.slow
def test_headless_torch_demo_completes_and_every_run_learns(db_path, capsys):
    code = main(["demo", "--headless", "--trainer", "torch", "--pace", "0", "--runs", "2",
                 "--chunks", "3", "--epochs", "2", "--workers", "2", "--db", str(db_path)])
    assert code == 0
    assert capsys.readouterr().out.rstrip().endswith("completed (2 runs).")
    store = Store.open(str(db_path))
    with store.read() as session:
        experiment = experiments.get_current_experiment(session)
        all_runs = runs.list_runs(session, experiment_id=experiment.id)
    store.close()
    assert trainer_of(experiment.config_schema) == "torch"
    for run in all_runs:
        assert run.status == "COMPLETED"
        assert set(run.metrics) == {"train_loss", "val_loss", "val_accuracy"}
        assert run.metrics["val_accuracy"] > CHANCE + 0.4, run


@pytest.mark.slow
def test_a_warm_clone_continues_its_parents_loss_curve(store):
    holder = {}

    def on_event(event):
        if event.kind == events.CHUNK_DONE and event.run_id == 1 and event.details["position"] == 4:
            with store.write() as session:
                patch = {"optimizer": {"learning_rate": 0.05}}
                holder["warm"] = ic_ops.request_clone_modify(
                    session, run_id=1, config_patch=patch, warm_start=True, origin="test")
                holder["cold"] = ic_ops.request_clone_modify(
                    session, run_id=1, config_patch=patch, origin="test")

    controller = make_demo_controller(store, experiment="torch-warm", runs=1, chunks=4, epochs=2,
                                      pace=0, on_event=on_event, trainer="torch")
    assert controller.run().status == "completed"
    parent = history(store, 1, "train_loss")
    warm = history(store, holder["warm"].new_run_id, "train_loss")
    cold = history(store, holder["cold"].new_run_id, "train_loss")
    start = 8 - len(warm)  # the ops apply when the parent's next chunk ends: 4 or 5 chunks in
    assert start in (4, 5)
    assert len(cold) == 8
    assert abs(warm[0] - parent[start - 1]) < 0.5 * parent[start - 1]  # goes on from there ...
    assert cold[0] > 3 * parent[start - 1]  # ... where a fresh model starts over, far above
    assert warm[0] < cold[0] / 3


def test_a_resumed_demo_keeps_the_trainer_it_was_started_with(store):
    first = make_demo_controller(store, experiment="torch-again", runs=2, chunks=2, epochs=1,
                                 pace=0, trainer="torch")
    first.request_end()
    assert first.run().status == "cancelled"
    second = make_demo_controller(store, experiment="torch-again", pace=0)  # numpy by default
    assert isinstance(second.trainer, TorchDemoTrainer)
    assert trainer_of(second.experiment.config_schema) == "torch"
    assert "--trainer torch" in resume_command("torch-again", None, trainer="torch")
    assert "--trainer" not in resume_command("x", None)
