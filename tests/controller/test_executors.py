"""The executor choice: threads by default, Ray on request, a clear sentence when Ray is missing.

The Ray executor's behaviour on a real cluster is in test_ray_cluster.py (slow)."""

from __future__ import annotations

import importlib.util
import io
import os

import pytest
from rfconsole.controller.executors import ExecutorUnavailable, make_executor
from rfconsole.controller.executors.ray_executor import actor_options
from rfconsole.controller.executors.threads import ThreadExecutor
from rfconsole.db import InvalidError


@pytest.fixture
def no_ray(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *args: None if name == "ray" else real(name, *args))


def test_threads_are_the_default_executor(make_controller):
    controller = make_controller()
    assert isinstance(controller.executor, ThreadExecutor)
    assert controller.checkpoints.keep_in_memory  # as before: resumes and clones read no file
    assert controller.run().status == "completed"


def test_without_ray_the_ray_executor_says_what_to_install(make_controller, no_ray):
    with pytest.raises(ExecutorUnavailable) as caught:
        make_controller(executor="ray")
    assert caught.value.message == "Training on Ray needs Ray: pip install 'rfconsole[ray]'."


def test_an_unknown_executor_is_refused_in_one_sentence(make_controller):
    with pytest.raises(InvalidError, match=r"^There is no executor 'dask'; choose one of threads, ray\.$"):
        make_controller(executor="dask")


def test_demo_with_ray_but_without_ray_installed_is_one_line(db_path, capsys, no_ray):
    from rfconsole.console.cli import parse_args
    from rfconsole.controller.cli import run_demo_headless

    args = parse_args(["demo", "--headless", "--no-dispatcher", "--db", str(db_path), "--ray"])
    assert args.ray == ""  # Ray, at the address Ray finds itself
    assert run_demo_headless(args, io.StringIO()) == 1
    assert capsys.readouterr().err == "rfconsole: Training on Ray needs Ray: pip install 'rfconsole[ray]'.\n"


def test_the_ray_address_comes_from_the_option_or_the_environment(monkeypatch):
    from rfconsole.console.cli import parse_args

    assert parse_args(["demo"]).ray is None  # threads
    assert parse_args(["demo", "--ray", "10.0.0.5:6379"]).ray == "10.0.0.5:6379"
    monkeypatch.setenv("RFCONSOLE_RAY_ADDRESS", "head:6379")
    assert parse_args(["demo"]).ray == "head:6379"


def test_resource_requests_become_actor_options():
    assert actor_options({"num_cpus": 2, "num_gpus": 0.5, "memory": 1e9, "accelerator_a100": 1}) == {
        "num_cpus": 2.0, "num_gpus": 0.5, "memory": 1_000_000_000, "resources": {"accelerator_a100": 1.0}}
    assert actor_options({"GPU": 1}) == {"num_gpus": 1.0}
    with pytest.raises(InvalidError, match=r"^The resource 'num_gpus' must be a number of zero or more, not -1\.$"):
        actor_options({"num_gpus": -1})
    with pytest.raises(InvalidError, match="must be an object"):
        actor_options([1])  # type: ignore[arg-type]


def test_make_executor_builds_the_thread_pool_lazily(tmp_path):
    from rfconsole.controller import CheckpointStore
    from rfconsole.controller.numpy_demo import DemoTrainer

    executor = make_executor("threads", trainer=DemoTrainer(), checkpoints=CheckpointStore(tmp_path),
                             workers=2, shape=(2, 1), pace=0.0)
    assert executor.slots == 2
    executor.close()  # never started: nothing to shut down


def test_the_demo_trainer_travels_to_another_process_without_its_data():
    import pickle

    from rfconsole.controller.numpy_demo import DemoTrainer

    trainer = DemoTrainer(data_seed=7)
    assert trainer.data is not None
    copy = pickle.loads(pickle.dumps(trainer))
    assert copy._data is None
    assert copy._data_seed == 7
    assert (copy.data.train_x == trainer.data.train_x).all()


def test_the_demo_puts_its_experiment_folder_under_experiments_dir(db_path, tmp_path):
    from rfconsole.console.cli import parse_args
    from rfconsole.controller.cli import run_demo_headless

    shared = tmp_path / "shared"
    args = parse_args(["demo", "--headless", "--no-dispatcher", "--db", str(db_path), "--pace", "0",
                       "--runs", "1", "--chunks", "1", "--epochs", "1", "--experiment", "on-shared",
                       "--experiments-dir", str(shared)])
    assert run_demo_headless(args, io.StringIO()) == 0
    assert list((shared / "on-shared" / "checkpoints").glob("run_1.*.ckpt"))



@pytest.mark.slow  # with the cluster tests: it needs the ray extra, which CI installs for them
def test_an_unreachable_ray_address_is_refused_at_once(db_path, capsys):
    if importlib.util.find_spec("ray") is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("This test needs Ray and CI must install it (the ray extra).")
        pytest.skip("needs Ray: pip install -e '.[ray]'")
    import socket

    from rfconsole.console.cli import parse_args
    from rfconsole.controller.cli import run_demo_headless

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    args = parse_args(["demo", "--headless", "--no-dispatcher", "--db", str(db_path), "--ray", f"127.0.0.1:{port}"])
    assert run_demo_headless(args, io.StringIO()) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"rfconsole: Nothing answers at the Ray address 127.0.0.1:{port} (")
    assert err.endswith("start the cluster with `ray start --head` there, or check the address.\n")
    assert err.count("\n") == 1


def test_the_resume_command_keeps_training_on_ray(monkeypatch):
    from rfconsole.controller.demo import resume_command

    assert resume_command("x", None) == "rfconsole demo --experiment x"
    assert resume_command("x", None, ray_address="") == "rfconsole demo --ray --experiment x"
    assert resume_command("x", None, ray_address="head:6379") == "rfconsole demo --ray head:6379 --experiment x"
    monkeypatch.setenv("RFCONSOLE_RAY_ADDRESS", "head:6379")  # the environment says it again
    assert resume_command("x", None, ray_address="head:6379") == "rfconsole demo --experiment x"
