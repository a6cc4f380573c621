"""The demo: a real numpy trainer, the headless command, Ctrl-C, warm versus cold clones."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time

import pytest
from rfconsole.console.cli import main
from rfconsole.controller import events
from rfconsole.controller.demo import (
    CONFIG_SCHEMA,
    DemoTrainer,
    demo_configs,
    make_demo_controller,
    resume_command,
)
from rfconsole.controller.live import ENDED_BY_CANCEL
from rfconsole.db import Store, configs, experiments, ic_ops, metrics, runs

CHANCE = 0.25  # four balanced classes


def test_headless_demo_completes_and_every_run_learns(db_path, capsys):
    started = time.monotonic()
    code = main(["demo", "--headless", "--pace", "0", "--runs", "3", "--chunks", "4",
                 "--epochs", "2", "--db", str(db_path)])
    assert code == 0
    assert time.monotonic() - started < 30
    out = capsys.readouterr().out
    assert "Run 3 completed: " in out
    assert out.rstrip().splitlines()[-1].endswith("completed (3 runs).")
    store = Store.open(str(db_path))
    with store.read() as session:
        experiment = experiments.get_current_experiment(session)
        assert experiment.status == "completed"
        assert experiment.name.startswith("demo-")
        all_runs = runs.list_runs(session, experiment_id=experiment.id)
    store.close()
    assert len(all_runs) == 3
    assert len({r.config_leaf["optimizer"]["learning_rate"] for r in all_runs}) == 3
    for run in all_runs:
        assert run.status == "COMPLETED"
        assert set(run.metrics) == {"train_loss", "val_loss", "val_accuracy"}
        assert run.metrics["val_accuracy"] > CHANCE + 0.2, run


def test_demo_configs_follow_the_schema_and_differ():
    found = demo_configs(6)
    for config in found:
        configs.validate_config(config, CONFIG_SCHEMA)
    for key in ("learning_rate",):
        assert len({c["optimizer"][key] for c in found}) > 1
    assert len({c["model"]["hidden_width"] for c in found}) > 1
    assert len({c["batch_size"] for c in found}) > 1


def test_warm_clone_goes_on_from_the_parent_and_cold_starts_over(store):
    holder = {}

    def on_event(event):
        if event.kind == events.CHUNK_DONE and event.run_id == 1 and event.details["position"] == 4:
            with store.write() as session:
                patch = {"optimizer": {"learning_rate": 0.05}}
                holder["warm"] = ic_ops.request_clone_modify(
                    session, run_id=1, config_patch=patch, warm_start=True, origin="test")
                holder["cold"] = ic_ops.request_clone_modify(
                    session, run_id=1, config_patch=patch, origin="test")
                holder["wider"] = ic_ops.request_clone_modify(
                    session, run_id=1, config_patch={"model": {"hidden_width": 8}},
                    warm_start=True, origin="test")

    controller = make_demo_controller(store, experiment="warm-cold", runs=1, chunks=4, epochs=2,
                                      pace=0, on_event=on_event)
    assert controller.run().status == "completed"

    def val_losses(run_id):
        with store.read() as session:
            return [p.value for p in metrics.metric_history(
                session, run_id=run_id, names=["val_loss"])["val_loss"]]

    parent = val_losses(1)
    warm, cold = val_losses(holder["warm"].new_run_id), val_losses(holder["cold"].new_run_id)
    # The ops are claimed when the parent's next chunk ends: it is 4 or 5 chunks in by then.
    start = 8 - len(warm)
    assert start in (4, 5)
    assert len(cold) == 8  # it trained the whole schedule
    assert abs(warm[0] - parent[start - 1]) < 0.1  # continues from the parent's loss ...
    assert cold[0] > parent[start - 1] + 0.15  # ... while a fresh model starts over, higher
    with store.read() as session:
        wider = runs.get_run(session, holder["wider"].new_run_id)
    assert wider.status == "FAILED"
    assert "hidden_width" in wider.error


def test_a_demo_of_an_existing_unfinished_name_resumes_it(store):
    first = make_demo_controller(store, experiment="again", runs=2, chunks=2, epochs=1, pace=0)
    first.request_end()
    assert first.run().status == "cancelled"
    second = make_demo_controller(store, experiment="again", runs=5, chunks=9, epochs=9, pace=0)
    assert second.experiment_id == first.experiment_id
    assert second.shape == (2, 1)  # the experiment's own sizes, not the new arguments
    assert second.run().status == "completed"
    with store.read() as session:
        assert runs.count_runs(session, experiment_id=first.experiment_id) == 2


def test_the_trainer_refuses_a_config_it_cannot_build():
    with pytest.raises(ValueError, match="cannot build a model"):
        DemoTrainer().create_model({"optimizer": {}, "model": {"hidden_width": 4}, "batch_size": 8})


@pytest.mark.slow
def test_ctrl_c_ends_the_headless_demo_cleanly_and_it_resumes(tmp_path, db_path):
    command = [sys.executable, "-m", "rfconsole.console", "demo", "--headless", "--pace", "0.2",
               "--runs", "2", "--chunks", "8", "--epochs", "1", "--db", str(db_path),
               "--experiment", "interrupted"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=env)
    try:
        lines = []
        for line in child.stdout:
            lines.append(line)
            if "finished chunk" in line:
                break
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 130
    assert "Traceback" not in err
    assert "cancelled" in out
    assert "--experiment interrupted" in out
    assert f"rfconsole demo --headless --db {shlex.quote(str(db_path))} --experiment interrupted" in out
    store = Store.open(str(db_path))
    with store.read() as session:
        experiment = experiments.get_experiment_by_name(session, "interrupted")
        assert experiment.status == "cancelled"
        found = runs.list_runs(session, experiment_id=experiment.id)
        statuses = {(r.status, r.ended_by) for r in found}
    assert statuses <= {("STOPPED", ENDED_BY_CANCEL), ("NEW", None)}
    resumed = subprocess.run(command[:6] + ["0"] + command[7:], capture_output=True, text=True,
                             timeout=60, env=env)
    assert resumed.returncode == 0, resumed.stderr
    with store.read() as session:
        experiment = experiments.get_experiment_by_name(session, "interrupted")
        assert experiment.status == "completed"
        for run in runs.list_runs(session, experiment_id=experiment.id):
            assert run.status == "COMPLETED"
            assert [p.step for p in metrics.metric_history(session, run_id=run.run_id,
                                                           names=["val_loss"])["val_loss"]]
    store.close()


@pytest.mark.slow
def test_headless_prints_a_line_per_event_including_ops(db_path):
    import io
    import threading

    from rfconsole.console.cli import parse_args
    from rfconsole.controller.cli import run_demo_headless

    args = parse_args(["demo", "--headless", "--pace", "0.2", "--runs", "2", "--chunks", "4",
                       "--epochs", "1", "--db", str(db_path), "--experiment", "printed"])
    out = io.StringIO()
    result = {}
    thread = threading.Thread(target=lambda: result.update(code=run_demo_headless(args, out)))
    thread.start()
    deadline = time.monotonic() + 30
    while "finished chunk" not in out.getvalue() and time.monotonic() < deadline:
        time.sleep(0.01)
    store = Store.open(str(db_path))
    with store.write() as session:
        clone = ic_ops.request_clone_modify(session, run_id=1, config_patch={"batch_size": 16},
                                           origin="test")
    thread.join(60)
    store.close()
    assert result["code"] == 0
    text = out.getvalue()
    assert "Started run 1 from the start at chunk 1 of 4 with config {\"optimizer\"" in text
    assert "Run 1 finished chunk 1/4 of epoch 1/1: train_loss=" in text
    assert f"Applied clone-modify of run 1 (op {clone.ic_id}, new run 3, cold)" in text
    assert "Started run 3 (cold clone of run 1) from the start at chunk 1 of 4" in text
    assert "Run 3 completed: " in text
    assert text.rstrip().endswith("Experiment 'printed' completed (3 runs).")
    assert all(line[:2].isdigit() for line in text.splitlines()[1:])  # each line has its time


def test_headless_on_a_completed_experiment_is_one_line(db_path, capsys):
    args = ["demo", "--headless", "--pace", "0", "--runs", "1", "--chunks", "1", "--epochs", "1",
            "--db", str(db_path), "--experiment", "once"]
    assert main(args) == 0
    capsys.readouterr()
    assert main(args) == 1
    err = capsys.readouterr().err
    assert err == ("rfconsole: Experiment 'once' has already completed; "
                   "start a new one under another name.\n")


def test_the_resume_command_names_the_database_it_ran_on(monkeypatch):
    monkeypatch.delenv("RFCONSOLE_DB", raising=False)
    assert resume_command("my sweep", "/tmp/a b.db") == (
        "rfconsole demo --db '/tmp/a b.db' --experiment 'my sweep'")
    assert resume_command("x", None, headless=True) == "rfconsole demo --headless --experiment x"
    monkeypatch.setenv("RFCONSOLE_DB", "postgresql://u:secret@h/db")
    assert resume_command("x", "postgresql://u:secret@h/db") == "rfconsole demo --experiment x"
    monkeypatch.delenv("RFCONSOLE_DB")
    hint = resume_command("x", "postgresql+psycopg://u:secret@h/db")
    assert "secret" not in hint
    assert hint == "rfconsole demo --db 'postgresql+psycopg://u:***@h/db' --experiment x"


def test_the_demo_lasts_at_least_ten_minutes_by_default(store, monkeypatch):
    """A newcomer has time to try every op: runs x chunks x epochs x pace >= 600 s."""
    from rfconsole.console.cli import parse_args

    for name in ("RUNS", "CHUNKS", "EPOCHS", "PACE", "WORKERS"):
        monkeypatch.delenv(f"RFCONSOLE_{name}", raising=False)
    args = parse_args(["demo"])
    assert args.runs * args.chunks * args.epochs * args.pace / args.workers >= 600
    controller = make_demo_controller(store)  # the library's defaults say the same
    with store.read() as session:
        count = runs.count_runs(session, experiment_id=controller.experiment_id)
    chunks, epochs = controller.shape
    assert count * chunks * epochs * controller.pace / controller.workers >= 600
