"""The MLflow mirror against a real MLflow tracking server (started once per session, SQLite store).

Each test uses its own experiment name: the server outlives the test's fresh database, whose
run ids start at 1 again.
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest
from rfconsole.console.cli import main
from rfconsole.controller import mlflow_bridge, mlflow_process, mlflow_supervisor
from rfconsole.controller import mlflow_mapping as mapping
from rfconsole.db import InvalidError, Store, experiment_log


def _name() -> str:
    return f"mirror-{uuid.uuid4().hex[:8]}"


def _client(url: str) -> Any:
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=url)


def mlflow_runs(url: str, experiment_name: str) -> dict[str, Any]:
    """The experiment's MLflow runs (deleted ones too) by run name; a duplicate name fails."""
    from mlflow.entities import ViewType

    client = _client(url)
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None:
        return {}
    found = client.search_runs([experiment.experiment_id], run_view_type=ViewType.ALL)
    names = [run.info.run_name for run in found]
    assert len(names) == len(set(names)), f"duplicate MLflow runs: {sorted(names)}"
    return {run.info.run_name: run for run in found}


def steps(url: str, run: Any, metric: str) -> list[int]:
    return [point.step for point in _client(url).get_metric_history(run.info.run_id, metric)]


def statuses(url: str, name: str) -> dict[str, tuple[str, str]]:
    return {key: (run.info.status, run.info.lifecycle_stage)
            for key, run in mlflow_runs(url, name).items()}


def log_text(controller: Any) -> str:
    return experiment_log.log_file(controller.experiment_path).read_text()


@pytest.mark.slow
def test_runs_params_metrics_progress_and_statuses(mlflow_server: str, make_controller: Any,
                                                   trainer: Any, store: Store, kit: Any) -> None:
    name = _name()
    trainer.fail_at = {(3, 1)}
    controller = make_controller([{"lr": 0.1, "optimizer": {"name": "sgd", "momentum": 0.9}},
                                  {"lr": 0.2}, {"lr": 0.3}], name=name,
                                 mlflow_tracking_uri=mlflow_server)
    seen: dict[str, Any] = {}

    def while_run_1_trains_its_first_chunk() -> None:  # run 1 is ONGOING, runs 2 and 3 NEW
        expected = {"1": ("RUNNING", "active"), "2": ("SCHEDULED", "active"),
                    "3": ("SCHEDULED", "active")}
        seen["mirrored"] = kit.wait_for(lambda: statuses(mlflow_server, name) == expected, 60)

    trainer.hooks[(1, 0)] = while_run_1_trains_its_first_chunk
    assert controller.run().status == "completed"
    assert seen["mirrored"], "NEW and ONGOING runs were not mirrored as SCHEDULED and RUNNING"

    found = mlflow_runs(mlflow_server, name)
    assert sorted(found) == ["1", "2", "3"]  # named str(run_id), as RapidFire's web UI reads them
    first = found["1"]
    assert first.data.params == {"lr": "0.1", "optimizer.name": "sgd", "optimizer.momentum": "0.9"}
    assert steps(mlflow_server, first, "loss") == [1, 2, 3, 4, 5, 6]  # step = chunks visited
    assert first.data.metrics["w"] == pytest.approx(0.6)
    assert first.data.tags[mapping.TAG_PROGRESS_CURRENT] == "3"
    assert first.data.tags[mapping.TAG_PROGRESS_TOTAL] == "3"
    assert first.data.tags[mapping.TAG_RUN_ID] == "1"
    assert first.data.tags[mapping.TAG_EXPERIMENT] == name
    assert statuses(mlflow_server, name) == {
        "1": ("FINISHED", "active"), "2": ("FINISHED", "active"), "3": ("FAILED", "active")}
    assert steps(mlflow_server, found["3"], "loss") == [1]
    assert "boom at 1" in found["3"].data.tags["rfconsole.error"]
    # Our run keeps its MLflow run's id (the dispatcher's metric_run_id).
    for key, run in found.items():
        assert kit.run_of(store, int(key)).metric_run_id == run.info.run_id


@pytest.mark.slow
def test_stop_delete_and_clone_are_mirrored(mlflow_server: str, make_controller: Any,
                                            trainer: Any, store: Store, kit: Any) -> None:
    name = _name()
    trainer.seconds = 0.02
    controller = make_controller([{"lr": 0.1}, {"lr": 0.2}, {"lr": 0.3}], name=name,
                                 mlflow_tracking_uri=mlflow_server)
    trainer.hooks[(1, 1)] = lambda: kit.request(store, "STOP", 1)

    def delete_once_mirrored() -> None:  # a run deleted before it was mirrored never shows
        assert kit.wait_for(lambda: "2" in mlflow_runs(mlflow_server, name), timeout=60)
        kit.request(store, "DELETE", 2)

    trainer.hooks[(2, 1)] = delete_once_mirrored
    trainer.hooks[(3, 1)] = lambda: kit.request(store, "CLONE_MODIFY", 3,
                                                config_patch={"lr": 0.5}, warm_start=True)

    def mirrored() -> bool:
        now = statuses(mlflow_server, name)
        return (now.get("1") == ("KILLED", "active") and now.get("2", ("", ""))[1] == "deleted"
                and now.get("3") == now.get("4") == ("FINISHED", "active"))

    thread = kit.run_in_thread(controller)
    try:
        assert kit.wait_for(mirrored, timeout=60), statuses(mlflow_server, name)
    finally:
        controller.request_end()
        thread.join(30)
    clone = mlflow_runs(mlflow_server, name)["4"]
    assert clone.data.tags["rfconsole.parent_run_id"] == "3"
    assert clone.data.tags["rfconsole.warm_start"] == "true"
    assert clone.data.tags["rfconsole.source"] == "CLONE"
    assert clone.data.params == {"lr": "0.5"}
    # The warm clone continues at its parent's data position, so its steps start past 1.
    clone_steps = steps(mlflow_server, clone, "loss")
    assert clone_steps[0] > 1
    assert clone_steps == list(range(clone_steps[0], 7))


@pytest.mark.slow
def test_a_cancelled_then_restarted_experiment_finds_its_mlflow_runs_again(
        mlflow_server: str, make_controller: Any, recorder: Any, trainer: Any, kit: Any) -> None:
    name = _name()
    first = make_controller(name=name, mlflow_tracking_uri=mlflow_server)
    recorder.then(lambda e: e.kind == "chunk_done" and e.run_id == 2, first.request_end)
    assert first.run().status == "cancelled"
    assert {key: value[0] for key, value in statuses(mlflow_server, name).items()} == {
        "1": "KILLED", "2": "KILLED"}  # left STOPPED by the cancel
    before = {key: run.info.run_id for key, run in mlflow_runs(mlflow_server, name).items()}

    again = make_controller(name=name, mlflow_tracking_uri=mlflow_server)
    resumed: dict[str, bool] = {}
    trainer.hooks[(1, 4)] = lambda: resumed.setdefault("running", kit.wait_for(
        lambda: statuses(mlflow_server, name)["1"] == ("RUNNING", "active"), 60))
    assert again.run().status == "completed"
    assert resumed["running"], "the restarted run was not RUNNING again in MLflow"
    found = mlflow_runs(mlflow_server, name)  # fails on a duplicate
    assert {key: run.info.run_id for key, run in found.items()} == before
    for run in found.values():
        assert run.info.status == "FINISHED"
        assert steps(mlflow_server, run, "loss") == [1, 2, 3, 4, 5, 6]  # each point once


@pytest.mark.slow
def test_mlflow_down_then_back_loses_and_duplicates_nothing(
        gate: Any, make_controller: Any, trainer: Any, kit: Any) -> None:
    name = _name()
    trainer.seconds = 0.02
    controller = make_controller(name=name, mlflow_tracking_uri=gate.url)

    def come_back_once_noticed() -> None:
        assert kit.wait_for(lambda: "cannot be reached" in log_text(controller), timeout=30)
        gate.open()

    trainer.hooks[(1, 1)] = gate.shut
    trainer.hooks[(1, 4)] = come_back_once_noticed
    assert controller.run().status == "completed"
    text = log_text(controller)
    assert "| controller | WARNING | MLflow at " + gate.url + " cannot be reached" in text
    assert "is reachable again" in text
    found = mlflow_runs(gate.url, name)
    assert sorted(found) == ["1", "2"]
    for run in found.values():
        assert run.info.status == "FINISHED"
        assert steps(gate.url, run, "loss") == [1, 2, 3, 4, 5, 6]


@pytest.mark.slow
def test_catch_up_mirrors_an_experiment_that_ran_without_mlflow(
        mlflow_server: str, make_controller: Any, store: Store) -> None:
    name = _name()
    assert make_controller(name=name).run().status == "completed"
    assert mlflow_runs(mlflow_server, name) == {}
    assert mlflow_bridge.catch_up(store, name, mlflow_server)
    assert mlflow_bridge.catch_up(store, name, mlflow_server)  # twice: nothing doubles
    found = mlflow_runs(mlflow_server, name)
    assert {key: run.info.status for key, run in found.items()} == {"1": "FINISHED", "2": "FINISHED"}
    assert steps(mlflow_server, found["2"], "loss") == [1, 2, 3, 4, 5, 6]


@pytest.mark.slow
@pytest.mark.parametrize(("chosen", "expected"), [(None, "true"), ("false", "false")])
def test_mlflow_usage_telemetry_is_off_unless_the_user_chose(
        mlflow_server: str, make_controller: Any, store: Store, monkeypatch: pytest.MonkeyPatch,
        chosen: str | None, expected: str) -> None:
    name = _name()
    assert make_controller(name=name).run().status == "completed"
    if chosen is None:
        monkeypatch.delenv("MLFLOW_DISABLE_TELEMETRY", raising=False)
    else:
        monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", chosen)
    assert mlflow_bridge.catch_up(store, name, mlflow_server)
    assert os.environ["MLFLOW_DISABLE_TELEMETRY"] == expected


def test_without_the_client_the_sentence_says_what_to_install(
        monkeypatch: pytest.MonkeyPatch, make_controller: Any, db_path: Any,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(mlflow_bridge, "client_installed", lambda: False)
    with pytest.raises(InvalidError) as refused:
        make_controller(mlflow_tracking_uri="http://127.0.0.1:5000")
    assert refused.value.message == mlflow_bridge.INSTALL_HINT
    assert "pip install 'rfconsole[mlflow]'" in refused.value.message
    code = main(["demo", "--headless", "--mlflow", "http://127.0.0.1:5000", "--db", str(db_path)])
    assert code == 1
    assert capsys.readouterr().err == f"rfconsole: {mlflow_bridge.INSTALL_HINT}\n"


@pytest.mark.slow
def test_the_demo_mirrors_to_the_server_named_in_the_environment(
        mlflow_server: str, monkeypatch: pytest.MonkeyPatch, db_path: Any) -> None:
    name = _name()
    monkeypatch.setenv("RFCONSOLE_MLFLOW_URI", mlflow_server)
    assert main(["demo", "--headless", "--pace", "0", "--runs", "2", "--chunks", "2",
                 "--epochs", "1", "--db", str(db_path), "--experiment", name]) == 0
    found = mlflow_runs(mlflow_server, name)
    assert {key: run.info.status for key, run in found.items()} == {"1": "FINISHED", "2": "FINISHED"}
    assert set(found["1"].data.metrics) == {"train_loss", "val_loss", "val_accuracy"}
    assert "optimizer.learning_rate" in found["1"].data.params


def test_batches_respect_mlflow_limits_and_carry_the_tags_last() -> None:
    points = [("loss", 0.5, 1000 + step, step) for step in range(2500)]
    params = [(f"p{index}", "1") for index in range(150)]
    tags = [(mapping.TAG_MIRRORED, "2500")]
    sent = list(mapping.batches(points, params, tags))
    assert all(len(p) + len(q) + len(t) <= mapping.MAX_BATCH and len(q) <= mapping.MAX_PARAMS
               for p, q, t in sent)
    assert [t for _, _, t in sent][-1] == tags
    assert not any(t for _, _, t in sent[:-1])
    assert [point for p, _, _ in sent for point in p] == points
    assert [param for _, q, _ in sent for param in q] == params


def test_names_mlflow_refuses_are_cleaned_and_passwords_hidden() -> None:
    assert mapping.mlflow_name("NDCG@5") == "NDCG_at_5"
    assert mapping.mlflow_name("val/loss (ema)") == "val/loss _ema_"
    assert mlflow_bridge.shown_uri("https://ana:s3cret@mlflow.example.org:5000/x") == (
        "https://ana:***@mlflow.example.org:5000/x")


@pytest.mark.slow
def test_training_does_no_mlflow_work_the_mirror_is_a_process_of_its_own(
        mlflow_server: str, make_controller: Any, trainer: Any, kit: Any, db_path: Any) -> None:
    name = _name()
    controller = make_controller(name=name, mlflow_tracking_uri=mlflow_server)
    seen: dict[str, Any] = {}

    def look() -> None:
        assert kit.wait_for(lambda: controller.mirror.pid is not None, 30)
        seen["threads"] = [thread.name for thread in threading.enumerate()]
        seen["cmdline"] = Path(f"/proc/{controller.mirror.pid}/cmdline").read_bytes()
        seen["mirrored"] = kit.wait_for(lambda: "1" in mlflow_runs(mlflow_server, name), 60)

    trainer.hooks[(1, 1)] = look
    assert controller.run().status == "completed"
    assert seen["mirrored"]
    # No thread here talks to MLflow: only the one waiting on the mirror process's reports.
    assert "rfconsole-mlflow" not in seen["threads"]
    assert "rfconsole-mlflow-supervisor" in seen["threads"]
    # The settings (the database URL may hold a password) go through a pipe, not the command line.
    assert seen["cmdline"].split(b"\0")[1:3] == [b"-m", b"rfconsole.controller.mlflow_process"]
    assert str(db_path).encode() not in seen["cmdline"]
    assert mlflow_server.encode() not in seen["cmdline"]
    assert controller.mirror.pid is None  # exited with the experiment
    assert controller.mirror.caught_up


@pytest.mark.slow
def test_a_killed_mirror_process_is_started_again_and_loses_and_duplicates_nothing(
        mlflow_server: str, make_controller: Any, trainer: Any, kit: Any) -> None:
    name = _name()
    trainer.seconds = 0.02
    controller = make_controller(name=name, mlflow_tracking_uri=mlflow_server)

    def kill_once_mirrored() -> None:
        assert kit.wait_for(lambda: "1" in mlflow_runs(mlflow_server, name), timeout=60)
        os.kill(controller.mirror.pid, signal.SIGKILL)

    trainer.hooks[(1, 2)] = kill_once_mirrored
    trainer.hooks[(2, 4)] = lambda: kit.wait_for(lambda: controller.mirror.starts == 2, 30)
    assert controller.run().status == "completed"
    assert controller.mirror.starts == 2
    assert "The MLflow mirror process for " + mlflow_server + " stopped unexpectedly" in (
        log_text(controller))
    found = mlflow_runs(mlflow_server, name)  # fails on a duplicate
    assert sorted(found) == ["1", "2"]
    for run in found.values():
        assert run.info.status == "FINISHED"
        assert steps(mlflow_server, run, "loss") == [1, 2, 3, 4, 5, 6]


@pytest.mark.parametrize("settings", ["not json\n", '{"db": "sqlite:///x.db"}\n', "[1]\n", ""])
def test_the_mirror_process_refuses_settings_it_cannot_read(
        settings: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert mlflow_process.main(io.StringIO(settings), io.StringIO()) == 2
    assert capsys.readouterr().err == (
        "rfconsole: the MLflow mirror process expects its settings as one JSON line.\n")


@pytest.mark.slow
def test_a_mirror_process_that_keeps_failing_is_reported_once_and_tried_again(
        tmp_path: Path, kit: Any) -> None:
    said: list[tuple[str, str]] = []
    gone = Store.open(str(tmp_path / "gone" / "rfconsole.db"))
    mirror = mlflow_supervisor.MirrorProcess(
        gone, 1, "gone", tmp_path / "experiment", "http://127.0.0.1:9",
        report=lambda kind, message: said.append((kind, message)))
    gone.close()
    shutil.rmtree(tmp_path / "gone")  # the mirror process cannot open the database
    mirror.start()
    try:
        assert kit.wait_for(lambda: mirror.starts >= 2, timeout=60)
    finally:
        assert not mirror.close()
    died = [message for _, message in said if "stopped unexpectedly" in message]
    assert len(died) == 2, said  # once for the streak, once when the experiment ended meanwhile
    assert "it is started again" in died[0]
    assert "catch_up, writes the rest" in died[1]
    assert (tmp_path / "experiment" / "logs" / "controller.log").read_text().strip()  # its traceback
