"""Choosing the demo's trainer on the command line; runs without PyTorch installed."""

from __future__ import annotations

import pytest
from rfconsole.console.cli import main, parse_args
from rfconsole.controller import demo_trainers
from rfconsole.controller.demo import DemoTrainer
from rfconsole.controller.demo_trainers import TORCH_SCHEMA_TITLE, demo_trainer, trainer_of


def test_numpy_stays_the_default_and_the_environment_can_choose(monkeypatch):
    assert parse_args(["demo"]).trainer == "numpy"
    assert parse_args(["demo", "--trainer", "torch"]).trainer == "torch"
    monkeypatch.setenv("RFCONSOLE_TRAINER", "torch")
    assert parse_args(["demo"]).trainer == "torch"
    assert isinstance(demo_trainer("numpy")[0], DemoTrainer)


def test_a_bad_trainer_is_one_usage_line(monkeypatch, capsys):
    assert main(["demo", "--trainer", "jax"]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    monkeypatch.setenv("RFCONSOLE_TRAINER", "jax")
    assert main(["demo"]) == 2
    assert "RFCONSOLE_TRAINER='jax' is not one of numpy, torch" in capsys.readouterr().err


@pytest.mark.parametrize("mode", [["--headless"], ["--no-dispatcher"]])
def test_a_missing_pytorch_is_one_sentence_naming_the_extra(monkeypatch, capsys, db_path, mode):
    monkeypatch.setattr(demo_trainers, "missing_torch_packages", lambda: ["torch"])
    code = main(["demo", *mode, "--trainer", "torch", "--db", str(db_path)])
    err = capsys.readouterr().err
    assert code == 1
    assert err.strip().splitlines() == [
        "rfconsole: The PyTorch demo needs torch: pip install 'rfconsole[torch]'."]


def test_an_experiment_tells_its_trainer_by_its_schema_title():
    assert trainer_of({"title": TORCH_SCHEMA_TITLE}) == "torch"
    assert trainer_of({"title": "Demo MLP config"}) == "numpy"
    assert trainer_of(None) == "numpy"
