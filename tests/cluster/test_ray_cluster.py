"""The Ray executor on a real cluster, with PostgreSQL as the database and the numpy demo trainer:
every op applied to runs training in actors on a worker node, a stop reaching a chunk in
progress promptly, a worker node killed mid-chunk and its runs finished on another node, and a
run that keeps losing its worker failed with the reason."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from rfconsole.controller import Checkpoint, CheckpointStore, Controller, ControllerEvent, events
from rfconsole.controller.numpy_demo import DemoTrainer, demo_configs
from rfconsole.db import Store, ic_ops, metrics, runs

pytestmark = pytest.mark.slow

STOP_BOUND = 1.5  # seconds from a stop's request to its run STOPPED; measured: see bench_ray.py


def _request(store: Store, operation: str, run_id: int, **kwargs: Any) -> Any:
    with store.write() as session:
        return ic_ops.request_op(session, operation, run_id=run_id, origin="test", **kwargs)


def _run(store: Store, run_id: int) -> Any:
    with store.read() as session:
        return runs.get_run(session, run_id)


def _op(store: Store, ic_id: int) -> Any:
    with store.read() as session:
        return ic_ops.get_op(session, ic_id)


def _history(store: Store, run_id: int) -> list[Any]:
    with store.read() as session:
        return metrics.metric_history(session, run_id=run_id, names=["val_loss"]).get("val_loss", [])


def _wait(condition: Any, timeout: float = 120.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


class Events:
    def __init__(self) -> None:
        self.items: list[ControllerEvent] = []

    def __call__(self, event: ControllerEvent) -> None:
        self.items.append(event)

    def of(self, kind: str, run_id: int | None = None) -> list[ControllerEvent]:
        return [e for e in self.items if e.kind == kind and (run_id is None or e.run_id == run_id)]


def _start(controller: Controller) -> tuple[threading.Thread, dict[str, Any]]:
    result: dict[str, Any] = {}

    def run() -> None:
        try:
            result["experiment"] = controller.run()
        except BaseException as exc:  # reported by the test
            result["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, result


def _finish(thread: threading.Thread, result: dict[str, Any], timeout: float = 300.0) -> Any:
    thread.join(timeout)
    assert not thread.is_alive(), "the experiment did not end"
    assert "error" not in result, result.get("error")
    return result["experiment"]


def _training_for(controller: Controller, run_id: int, seconds: float) -> bool:
    """Wait until a chunk of the run has been training (in its actor) for `seconds`."""
    assert _wait(lambda: run_id in controller.rotation.busy)
    since = time.monotonic()
    return _wait(lambda: run_id in controller.rotation.busy and time.monotonic() - since >= seconds,
                 timeout=30)


def test_every_op_reaches_runs_training_on_the_cluster(ray_cluster, pg_store, tmp_path: Path):
    store = pg_store
    seen = Events()
    controller = Controller(store, "ray-ops", demo_configs(3), DemoTrainer(), num_chunks=4, num_epochs=1,
                            workers=2, pace=1.0, executor="ray", experiment_path=tmp_path / "exp",
                            on_event=seen)
    assert not controller.checkpoints.keep_in_memory  # the actors write them; no stale copy here
    thread, result = _start(controller)

    # A stop reaches a chunk in progress in an actor through the cooperative check.
    assert _wait(lambda: _run(store, 1).num_chunks_visited >= 1)
    assert _training_for(controller, 1, 0.3)
    asked = time.monotonic()
    stop = _request(store, "STOP", 1)
    assert _wait(lambda: _op(store, stop.ic_id).status == "COMPLETED", timeout=30)
    latency = time.monotonic() - asked
    print(f"stop latency on the cluster: {latency * 1000:.0f} ms")
    assert latency < STOP_BOUND
    stopped = _run(store, 1)
    assert stopped.status == "STOPPED"
    parent_position = stopped.num_chunks_visited

    # Clones from the stopped run: warm from its checkpoint (written by its actor), and cold.
    warm = _request(store, "CLONE_MODIFY", 1, warm_start=True,
                    config_patch={"optimizer": {"learning_rate": 0.05}})
    cold = _request(store, "CLONE_MODIFY", 1, config_patch={"optimizer": {"learning_rate": 0.2}})
    resume = _request(store, "RESUME", 1)

    # A delete of a run whose chunk trains in an actor.
    assert _training_for(controller, 2, 0.3)
    delete = _request(store, "DELETE", 2)

    experiment = _finish(thread, result)
    assert experiment.status == "completed"
    for ic in (stop, warm, cold, resume, delete):
        assert _op(store, ic.ic_id).status == "COMPLETED", _op(store, ic.ic_id)
    assert _run(store, 2).status == "KILLED"
    assert not list((tmp_path / "exp" / "checkpoints").glob("run_2.*"))
    for run_id in (1, 3, warm.new_run_id, cold.new_run_id):
        run = _run(store, run_id)
        assert run.status == "COMPLETED", run
        assert run.num_chunks_visited == 4
    # Each chunk recorded once: the resumed run repeats no chunk, the warm clone goes on from
    # its parent's position, the cold one starts over.
    assert len(_history(store, 1)) == 4
    assert len(_history(store, warm.new_run_id)) == 4 - parent_position
    assert len(_history(store, cold.new_run_id)) == 4
    # The actors' checkpoints follow the trust rules: signed with the experiment's key, per run.
    final = _run(store, 3).checkpoint_path
    checkpoint = CheckpointStore(tmp_path / "exp").read_file(3, final)
    assert isinstance(checkpoint, Checkpoint)
    assert checkpoint.position == 4


def test_a_killed_worker_node_moves_its_runs_to_another_node(ray_cluster, pg_store, tmp_path: Path):
    import ray

    store = pg_store
    seen = Events()
    doomed = ray_cluster.add_worker(num_cpus=2)
    alive_before = {node["NodeID"] for node in ray.nodes() if node["Alive"]}
    controller = Controller(store, "ray-node-loss", demo_configs(2), DemoTrainer(), num_chunks=5,
                            num_epochs=1, workers=2, pace=1.0, executor="ray",
                            experiment_path=tmp_path / "exp", on_event=seen)
    thread, result = _start(controller)
    assert _wait(lambda: all(_run(store, r).num_chunks_visited >= 1 for r in (1, 2)))
    # Which node holds which run: kill the one holding at least one of them, mid-chunk.
    where = {run_id: ray.get(actor.where.remote(), timeout=30)["node_id"]
             for run_id, actor in list(controller.executor._actors.items())}  # type: ignore[attr-defined]
    victim_id = doomed.node_id if doomed.node_id in where.values() else None
    if victim_id is None:  # both runs landed on the session's first worker: add another, kill that one
        ray_cluster.add_worker(num_cpus=2)
        victim = next(node for node in ray_cluster.cluster.worker_nodes if node.node_id in where.values())
    else:
        victim = doomed
    moved = {run_id for run_id, node in where.items() if node == victim.node_id}
    assert _training_for(controller, next(iter(moved)), 0.2)
    ray_cluster.kill(victim)

    experiment = _finish(thread, result)
    assert experiment.status == "completed"
    for run_id in (1, 2):
        run = _run(store, run_id)
        assert run.status == "COMPLETED", run
        assert len(_history(store, run_id)) == 5  # the lost chunk was trained again, recorded once
    for run_id in moved:
        restarted = seen.of(events.RUN_RESTARTED, run_id)
        assert restarted, seen.items
        assert "restarts from its last checkpoint" in restarted[0].message
    assert victim.node_id not in {node["NodeID"] for node in ray.nodes() if node["Alive"]}
    assert alive_before  # the cluster had nodes to move to


def test_a_run_that_keeps_losing_its_worker_fails_with_the_reason(ray_cluster, pg_store, tmp_path: Path):
    import ray

    store = pg_store
    controller = Controller(store, "ray-actor-loss", demo_configs(2), DemoTrainer(), num_chunks=3,
                            num_epochs=1, workers=2, pace=1.0, executor="ray", max_restarts=0,
                            experiment_path=tmp_path / "exp")
    thread, result = _start(controller)
    assert _training_for(controller, 1, 0.2)
    ray.kill(controller.executor._actors[1])  # type: ignore[attr-defined]
    experiment = _finish(thread, result)
    assert experiment.status == "completed"
    failed = _run(store, 1)
    assert failed.status == "FAILED"
    assert "its Ray worker was lost" in failed.error
    assert "gave up after 0 restarts" in failed.error
    assert _run(store, 2).status == "COMPLETED"  # the other run went on


def test_a_resource_request_the_cluster_cannot_hold_fails_that_run_alone(ray_cluster, pg_store, tmp_path: Path):
    configs = [{**config, "resources": request} for config, request in
               zip(demo_configs(2), ({"num_gpus": 1}, {"num_cpus": 0.5}), strict=True)]
    controller = Controller(pg_store, "ray-resources", configs, DemoTrainer(), num_chunks=2, num_epochs=1,
                            workers=2, executor="ray", config_schema={}, experiment_path=tmp_path / "exp")
    assert controller.run().status == "completed"
    greedy = _run(pg_store, 1)
    assert greedy.status == "FAILED"
    assert greedy.error == ("Run 1 asks Ray for 1 GPU but the whole cluster has 0; "
                            "change its resources or add nodes that have them.")
    assert _run(pg_store, 2).status == "COMPLETED"  # half a CPU is a request the cluster can hold


def test_a_trainer_that_cannot_travel_is_refused_in_one_sentence(ray_cluster, pg_store, tmp_path: Path):
    import threading as threads

    from rfconsole.controller.executors import ExecutorUnavailable

    class LockedTrainer(DemoTrainer):
        def __getstate__(self) -> dict[str, Any]:
            return {"lock": threads.Lock()}

    controller = Controller(pg_store, "ray-unpicklable", demo_configs(1), LockedTrainer(), executor="ray",
                            experiment_path=tmp_path / "exp")
    with pytest.raises(ExecutorUnavailable, match=r"^The trainer LockedTrainer cannot be sent to the Ray cluster \("):
        controller.run()
