"""A controller on a Ray cluster killed with SIGKILL and started again: it re-attaches to the
cluster (new actors, from the runs' checkpoints) and applies the ops queued meanwhile once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from rfconsole.db import NotFoundError, experiment_log, experiments, ic_ops, runs

pytestmark = pytest.mark.slow

CHILD = textwrap.dedent(
    """
    import os, sys
    from rfconsole.controller import Controller
    from rfconsole.controller.numpy_demo import DemoTrainer, demo_configs
    from rfconsole.db import Store

    store = Store.open(sys.argv[1])
    Controller(store, "ray-crash", demo_configs(2), DemoTrainer(), num_chunks=3, num_epochs=1,
               workers=2, executor="ray", ray_address=sys.argv[2], experiment_path=sys.argv[3],
               pace=float(os.environ["PACE"]), poll_interval=float(os.environ["POLL"])).run()
    """
)


def _wait(condition, timeout: float = 120.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_a_killed_controller_reattaches_and_applies_pending_ops_once(ray_cluster, pg_url, pg_store,
                                                                      tmp_path: Path):
    store = pg_store
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    argv = [sys.executable, str(script), pg_url, ray_cluster.address, str(tmp_path / "exp")]

    def status(run_id: int) -> str:
        with store.read() as session:
            try:
                return runs.get_run(session, run_id).status
            except NotFoundError:  # not created yet
                return ""

    # First life: chunks that never end by themselves (a long pace) and a controller that looks
    # at ops only when a chunk ends, so the ops queued below are still PENDING when it dies.
    child = subprocess.Popen(argv, env={**os.environ, "PACE": "600", "POLL": "600"})
    try:
        assert _wait(lambda: status(1) == "ONGOING" and status(2) == "ONGOING"), "no run started"
        with store.write() as session:
            stop = ic_ops.request_stop(session, run_id=1, origin="test")
            clone = ic_ops.request_clone_modify(session, run_id=2, origin="test",
                                                config_patch={"optimizer": {"learning_rate": 0.2}})
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    with store.read() as session:
        assert {op.ic_id for op in ic_ops.list_pending(session)} == {stop.ic_id, clone.ic_id}

    restart = subprocess.Popen(argv, env={**os.environ, "PACE": "0.2", "POLL": "0.05"})
    try:
        assert _wait(lambda: status(1) == "STOPPED"), "the restarted controller did not apply the stop"
        with store.write() as session:
            resume = ic_ops.request_resume(session, run_id=1, origin="test")
        assert restart.wait(180) == 0
    finally:
        if restart.poll() is None:
            restart.kill()
            restart.wait()

    with store.read() as session:
        experiment = experiments.get_experiment_by_name(session, "ray-crash")
        assert experiment.status == "completed"
        ops = {op.ic_id: op for op in ic_ops.list_ops(session, experiment_id=experiment.id)}
        for op in (stop, clone, resume):
            assert ops[op.ic_id].status == "COMPLETED", ops[op.ic_id]
        for run_id in (1, 2, clone.new_run_id):
            run = runs.get_run(session, run_id)
            assert run.status == "COMPLETED", run
            assert run.num_chunks_visited == 3
    lines = experiment_log.tail(experiment_log.log_file(experiment.experiment_path),
                                component="interactive-control")
    for op in (stop, clone):
        applied = [line for line in lines if "Applied" in line and f"(op {op.ic_id}" in line]
        assert len(applied) == 1, applied
