"""Workers, the cooperative check, ending and resuming, crash recovery with SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from rfconsole.controller import Controller, events
from rfconsole.controller.live import ENDED_BY_CANCEL
from rfconsole.db import ConflictError, Store, experiment_log, experiments, ic_ops, metrics, runs


@pytest.mark.slow
def test_two_workers_train_two_runs_at_once_and_still_apply_ops(store, make_controller, kit):
    trainer = kit.CountingTrainer(seconds=0.15)
    trainer.hooks[(1, 1)] = lambda: kit.request(store, "DELETE", 3)
    clone = {}
    trainer.hooks[(2, 1)] = lambda: clone.update(
        op=kit.request(store, "CLONE_MODIFY", 1, config_patch={"lr": 0.4}))
    controller = make_controller([{"lr": 0.1}, {"lr": 0.2}, {"lr": 0.3}], trainer=trainer,
                                 workers=2, num_chunks=2, num_epochs=2)
    assert controller.run().status == "completed"

    calls = [c for c in trainer.calls if c.ended]
    overlapping = [
        (a.run_id, b.run_id) for a in calls for b in calls
        if a.run_id < b.run_id and a.started < b.ended and b.started < a.ended
    ]
    assert overlapping, "no two chunks ever trained at the same time"
    assert kit.run_of(store, 3).status == "KILLED"
    new_id = clone["op"].new_run_id
    assert kit.op_of(store, clone["op"].ic_id).status == "COMPLETED"
    for run_id in (1, 2, new_id):
        assert kit.run_of(store, run_id).status == "COMPLETED"
        assert trainer.positions(run_id) == [0, 1, 2, 3]


def test_cooperative_check_stops_a_long_chunk_quickly(store, make_controller, recorder, kit):
    trainer = kit.CountingTrainer(seconds=3.0, cooperative=True)
    requested = {}

    def stop_soon() -> None:
        requested["at"] = time.monotonic()
        kit.request(store, "STOP", 1)

    trainer.hooks[(1, 0)] = stop_soon
    stopped = {}
    recorder.then(lambda e: e.kind == events.RUN_STOPPED,
                  lambda: stopped.update(at=time.monotonic()))
    recorder.then(lambda e: e.kind == events.EXPERIMENT_WAITING,
                  lambda: kit.request(store, "RESUME", 1))
    trainer_after = {}
    recorder.then(lambda e: e.kind == events.RUN_RESUMED,
                  lambda: trainer_after.update(seconds=setattr(trainer, "seconds", 0.0)))
    controller = make_controller([{"lr": 0.1}], trainer=trainer, num_chunks=2, num_epochs=1)
    assert controller.run().status == "completed"
    # the cooperative check ended the 3 s chunk early, after the request
    first = next(call for call in trainer.calls if (call.run_id, call.position) == (1, 0))
    assert first.interrupted
    assert requested["at"] < stopped["at"]
    # the partial chunk was thrown away: the resumed run trains position 0 again, from w = 0
    assert trainer.positions(1) == [0, 1]
    assert kit.run_of(store, 1).metrics["w"] == pytest.approx(0.2)


def test_request_end_cancels_and_a_new_controller_resumes(store, make_controller, recorder, kit):
    trainer = kit.CountingTrainer()
    holder = {}
    recorder.then(lambda e: e.kind == events.CHUNK_DONE and e.details["position"] == 2,
                  lambda: holder["controller"].request_end())
    controller = make_controller(trainer=trainer)
    holder["controller"] = controller
    ended = controller.run()
    assert ended.status == "cancelled"
    for run_id in (1, 2):
        run = kit.run_of(store, run_id)
        assert run.status == "STOPPED"
        assert run.ended_by == ENDED_BY_CANCEL
    done_before = {run_id: kit.run_of(store, run_id).num_chunks_visited for run_id in (1, 2)}

    again = make_controller(trainer=trainer)  # same name: resumes
    assert again.experiment_id == controller.experiment_id
    assert again.run().status == "completed"
    for run_id in (1, 2):
        # every chunk trained once in all, and the model went on from its checkpoint
        assert sorted(trainer.positions(run_id)) == list(range(6))
        assert trainer.positions(run_id)[done_before[run_id]] == done_before[run_id]
        assert len(kit.losses(store, run_id)) == 6


def test_a_completed_experiment_is_not_restarted(store, make_controller):
    make_controller().run()
    with pytest.raises(ConflictError, match="already completed"):
        make_controller()


def test_bad_configs_are_refused_with_their_index(store, make_controller):
    schema = {"type": "object", "properties": {"lr": {"type": "number", "exclusiveMinimum": 0}}}
    with pytest.raises(Exception, match=r"Config 2: The config is invalid at lr"):
        make_controller([{"lr": 0.1}, {"lr": -1}], config_schema=schema)


CHILD = textwrap.dedent(
    """
    import os, sys, time
    from rfconsole.db import Store
    from rfconsole.controller import Controller, checkpoints

    save = checkpoints.CheckpointStore.save

    def save_then_stall(self, run_id, checkpoint):
        # killed here: the chunk's checkpoint is on disk, its progress and history are not
        path = save(self, run_id, checkpoint)
        if os.environ.get("STALL_AFTER_SAVE") and (run_id, checkpoint.position) == (1, 4):
            open(os.environ["STALL"], "w").close()
            time.sleep(600)
        return path

    checkpoints.CheckpointStore.save = save_then_stall

    class Trainer:
        def create_model(self, config):
            return {"w": 0.0, "lr": config["lr"]}
        def train_chunk(self, model, context):
            if (os.environ.get("STALL") and not os.environ.get("STALL_AFTER_SAVE")
                    and (context.run_id, context.position) == (1, 3)):
                open(os.environ["STALL"], "w").close()
                time.sleep(600)  # killed here, mid-chunk
            time.sleep(0.01)
            model["w"] += model["lr"]
            return {"loss": 1.0 / (1.0 + model["w"]), "w": model["w"]}
        def get_state(self, model):
            return {"w": model["w"]}
        def set_state(self, model, state):
            model["w"] = state["w"]

    store = Store.open(sys.argv[1])
    configs = [{"lr": 0.1}, {"lr": 0.2}, {"lr": 0.3}]
    # A long poll interval keeps the ops queued during the stalled chunk PENDING.
    Controller(store, "crash", configs, Trainer(), num_chunks=4, num_epochs=2,
               poll_interval=float(os.environ.get("POLL", "0.05"))).run()
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("killed", ["mid-chunk", "after-checkpoint"])
def test_recovery_after_sigkill_applies_every_pending_op_once(tmp_path, db_path, kit, killed):
    """Killed mid-chunk, or between a chunk's checkpoint and its commit: no op applied twice,
    no metric point lost or repeated (the restart trusts the checkpoint the row names)."""
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    marker = tmp_path / "stalled"
    stall = {"STALL_AFTER_SAVE": "1"} if killed == "after-checkpoint" else {}
    child = subprocess.Popen([sys.executable, str(script), str(db_path)],
                             env={**os.environ, "STALL": str(marker), "POLL": "300", **stall})
    try:
        assert kit.wait_for(marker.exists, timeout=60), "the child never reached the stalled chunk"
        store = Store.open(str(db_path))
        with store.write() as session:
            delete = ic_ops.request_delete(session, run_id=3, origin="test")
            warm = ic_ops.request_clone_modify(session, run_id=2, config_patch={"lr": 0.5},
                                               warm_start=True, origin="test")
            cold = ic_ops.request_clone_modify(session, run_id=1, config_patch={"lr": 0.7},
                                               origin="test")
            stop = ic_ops.request_stop(session, run_id=1, origin="test")
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    with store.read() as session:
        assert len(ic_ops.list_pending(session)) == 4
        parent_progress = runs.get_run(session, 2).num_chunks_visited
        assert runs.get_run(session, 1).num_chunks_visited == 3

    restart = subprocess.Popen([sys.executable, str(script), str(db_path)])
    try:
        stopped = kit.wait_for(lambda: _status(store, 1) == "STOPPED", timeout=60)
        assert stopped, "the restarted controller did not apply the pending stop"
        with store.write() as session:
            ic_ops.request_resume(session, run_id=1, origin="test")
        assert restart.wait(60) == 0
    finally:
        if restart.poll() is None:
            restart.kill()
            restart.wait()

    with store.read() as session:
        experiment = experiments.get_experiment_by_name(session, "crash")
        assert experiment.status == "completed"
        ops = {op.ic_id: op for op in ic_ops.list_ops(session, experiment_id=experiment.id)}
        for op in (delete, warm, cold, stop):
            assert ops[op.ic_id].status == "COMPLETED", ops[op.ic_id]
        all_runs = {run.run_id: run for run in runs.list_runs(session, experiment_id=experiment.id)}
        assert len(all_runs) == 5  # three configs and exactly two clones
        assert all_runs[3].status == "KILLED"
        for run_id in (1, 2, warm.new_run_id, cold.new_run_id):
            assert all_runs[run_id].status == "COMPLETED"
        # run 1 went on from its checkpoint: every step recorded once, w of all 8 chunks
        history = metrics.metric_history(session, run_id=1, names=["w"])["w"]
        assert [p.step for p in history] == list(range(1, 9))
        assert history[-1].value == pytest.approx(0.8)
        warm_history = metrics.metric_history(session, run_id=warm.new_run_id, names=["w"])["w"]
        assert warm_history[0].step == parent_progress + 1
        assert warm_history[0].value == pytest.approx(0.2 * parent_progress + 0.5)
    lines = experiment_log.tail(experiment_log.log_file(experiment.experiment_path),
                                component="interactive-control")
    for op in (delete, warm, cold, stop):
        applied = [line for line in lines if "Applied" in line and f"(op {op.ic_id}" in line]
        assert len(applied) == 1, applied
    store.close()


def _status(store: Store, run_id: int) -> str:
    with store.read() as session:
        return runs.get_run(session, run_id).status


def test_controller_needs_a_worker(store, kit):
    with pytest.raises(Exception, match="workers must be at least 1"):
        Controller(store, "x", [{"lr": 0.1}], kit.CountingTrainer(), workers=0)


def test_a_second_controller_on_a_running_experiment_is_refused(store, make_controller, kit):
    trainer = kit.CountingTrainer(seconds=0.05)
    first = make_controller(trainer=trainer, num_chunks=50)
    thread = kit.run_in_thread(first)
    assert kit.wait_for(lambda: trainer.calls, timeout=20)
    second = make_controller(trainer=trainer)
    with pytest.raises(ConflictError, match="already being run by process"):
        second.run()
    first.request_end()
    thread.join(10)
    assert not thread.is_alive()
    with store.read() as session:
        assert experiments.get_experiment(session, first.experiment_id).status == "cancelled"


def test_a_trainer_without_the_protocol_is_refused(store):
    class Half:
        def create_model(self, config):
            return None

    with pytest.raises(Exception, match="The trainer Half has no train_chunk method"):
        Controller(store, "x", [{"lr": 0.1}], Half())


def test_ctrl_c_in_a_training_script_cancels_cleanly(store, make_controller, trainer, kit):
    def interrupt() -> None:
        raise KeyboardInterrupt

    trainer.hooks[(2, 1)] = interrupt
    controller = make_controller()
    with pytest.raises(KeyboardInterrupt):
        controller.run()
    with store.read() as session:
        assert experiments.get_experiment(session, controller.experiment_id).status == "cancelled"
    run = kit.run_of(store, 1)
    assert run.status == "STOPPED"
    assert run.ended_by == ENDED_BY_CANCEL
    assert make_controller().run().status == "completed"
