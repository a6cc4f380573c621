"""Each IC op applied by a running controller, with a fast deterministic trainer."""

from __future__ import annotations

import pytest
from rfconsole.controller import events
from rfconsole.db import experiment_log, experiments, ic_ops


def test_runs_round_robin_and_complete(store, make_controller, trainer, kit):
    controller = make_controller()
    experiment = controller.run()
    assert experiment.status == "completed"
    # least progress first: the two runs alternate chunk by chunk
    assert [c.run_id for c in trainer.calls] == [1, 2] * 6
    for run_id, lr in ((1, 0.1), (2, 0.2)):
        run = kit.run_of(store, run_id)
        assert run.status == "COMPLETED"
        assert (run.num_chunks_visited, run.current_epoch, run.current_chunk) == (6, 2, 3)
        assert run.num_epochs_completed == 2
        assert run.progress == 1.0
        assert run.completed_steps == 6
        assert run.total_steps == 6
        assert run.metrics["w"] == pytest.approx(6 * lr)
        assert run.checkpoint_path
        assert run.checkpoint_path.endswith(f"run_{run_id}.even.ckpt")
        assert len(kit.losses(store, run_id)) == 6
    # two files per run, whatever the number of chunks
    files = sorted(p.name for p in controller.checkpoints.folder.iterdir())
    assert files == ["run_1.even.ckpt", "run_1.odd.ckpt", "run_2.even.ckpt", "run_2.odd.ckpt"]


def test_stop_then_resume_continues_at_the_same_chunk(store, make_controller, trainer, recorder,
                                                      kit):
    # The stop is queued while run 1 trains its chunk at position 2, so it applies after it.
    trainer.hooks[(1, 2)] = lambda: kit.request(store, "STOP", 1)
    stopped_at = {}

    def resume() -> None:
        stopped_at.update(kit.run_of(store, 1).model_dump())
        kit.request(store, "RESUME", 1)

    recorder.then(lambda e: e.kind == events.RUN_STOPPED and e.run_id == 1, resume)
    assert make_controller().run().status == "completed"

    assert stopped_at["status"] == "STOPPED"
    assert stopped_at["num_chunks_visited"] == 3
    assert trainer.positions(1) == [0, 1, 2, 3, 4, 5]  # no chunk repeated, none skipped
    run = kit.run_of(store, 1)
    assert run.status == "COMPLETED"
    assert run.metrics["w"] == pytest.approx(0.6)
    with store.read() as session:
        ops = ic_ops.list_ops(session, run_id=1)
    assert [(op.operation, op.status) for op in ops] == [
        ("RESUME", "COMPLETED"), ("STOP", "COMPLETED")]
    assert all(op.processed_at is not None for op in ops)


def test_delete_drops_the_run(store, make_controller, trainer, kit):
    trainer.hooks[(2, 1)] = lambda: kit.request(store, "DELETE", 2)
    controller = make_controller()
    assert controller.run().status == "completed"
    run = kit.run_of(store, 2)
    assert run.status == "KILLED"
    assert run.checkpoint_path is None
    assert trainer.positions(2) == [0, 1]  # the chunk in flight was its last
    assert run.num_chunks_visited == 1  # ... and its result was dropped with the run
    assert not list(controller.checkpoints.folder.glob("run_2.*"))
    assert kit.run_of(store, 1).status == "COMPLETED"


def test_cold_clone_starts_from_scratch(store, make_controller, trainer, recorder, kit):
    clone = {}
    trainer.hooks[(1, 3)] = lambda: clone.update(
        new=kit.request(store, "CLONE_MODIFY", 1, config_patch={"lr": 0.3}).new_run_id)
    assert make_controller().run().status == "completed"
    new_id = clone["new"]
    run = kit.run_of(store, new_id)
    assert run.status == "COMPLETED"
    assert run.source == "CLONE"
    assert run.parent_run_id == 1
    assert run.config_leaf == {"lr": 0.3}
    assert trainer.positions(new_id) == [0, 1, 2, 3, 4, 5]
    assert kit.losses(store, new_id)[0] == pytest.approx(1 / 1.3)  # a fresh model's first loss


def test_warm_clone_continues_from_the_parent(store, make_controller, trainer, kit):
    clone = {}
    trainer.hooks[(1, 3)] = lambda: clone.update(new=kit.request(
        store, "CLONE_MODIFY", 1, config_patch={"lr": 0.3}, warm_start=True).new_run_id)
    assert make_controller().run().status == "completed"
    new_id = clone["new"]
    # the op is claimed right after run 1's chunk at position 3: its checkpoint is at 4 chunks
    assert trainer.positions(new_id) == [4, 5]
    first = kit.losses(store, new_id)[0]
    # the parent's w, then one step of its own
    assert first == pytest.approx(1 / (1 + 4 * 0.1 + 0.3))
    run = kit.run_of(store, new_id)
    assert run.status == "COMPLETED"
    assert run.warm_start
    assert run.metrics["w"] == pytest.approx(0.4 + 2 * 0.3)


def test_clone_with_a_bad_config_fails_only_itself(store, make_controller, trainer, recorder, kit):
    clone = {}
    trainer.hooks[(2, 0)] = lambda: clone.update(op=kit.request(
        store, "CLONE_MODIFY", 1, config_patch={"lr": -1}))
    controller = make_controller()
    assert controller.run().status == "completed"
    op = clone["op"]
    run = kit.run_of(store, op.new_run_id)
    assert run.status == "FAILED"
    assert "lr must be positive" in run.error
    settled = kit.op_of(store, op.ic_id)
    assert settled.status == "FAILED"
    assert "lr must be positive" in settled.error
    assert settled.processed_at is not None
    assert [kit.run_of(store, i).status for i in (1, 2)] == ["COMPLETED", "COMPLETED"]
    ic_lines = experiment_log.tail(experiment_log.log_file(controller.experiment_path),
                                   component="interactive-control")
    assert any(f"op {op.ic_id}" in line and "| ERROR |" in line for line in ic_lines)


def test_a_run_whose_trainer_raises_fails_alone(store, make_controller, trainer, kit):
    trainer.fail_at.add((2, 1))
    controller = make_controller()
    assert controller.run().status == "completed"
    failed = kit.run_of(store, 2)
    assert failed.status == "FAILED"
    assert failed.error == "RuntimeError: boom at 1"
    assert kit.run_of(store, 1).status == "COMPLETED"
    lines = experiment_log.tail(experiment_log.log_file(controller.experiment_path))
    assert any("Run 2 failed: RuntimeError: boom at 1" in line for line in lines)
    # the traceback went to the controller's own file, not to the terminal
    assert "Traceback" in (controller.experiment_path / "logs" / "controller.log").read_text()


def test_an_op_on_a_run_that_changed_meanwhile_is_skipped(store, make_controller, trainer, kit):
    # Stop queued during run 1's last chunk: by the time it applies, the run has completed.
    holder = {}
    trainer.hooks[(1, 5)] = lambda: holder.update(op=kit.request(store, "STOP", 1))
    assert make_controller().run().status == "completed"
    op = kit.op_of(store, holder["op"].ic_id)
    assert op.status == "SKIPPED"
    assert "COMPLETED" in op.error
    assert op.processed_at is not None
    assert kit.run_of(store, 1).status == "COMPLETED"


def test_only_stopped_runs_wait_then_a_resume_completes(store, make_controller, trainer,
                                                        recorder, kit):
    trainer.hooks[(1, 1)] = lambda: kit.request(store, "STOP", 1)
    controller = make_controller([{"lr": 0.5}])
    thread = kit.run_in_thread(controller)
    waited = kit.wait_for(lambda: events.EXPERIMENT_WAITING in recorder.kinds())
    assert waited, "the controller never said it was waiting"
    thread.join(0.3)
    assert thread.is_alive()  # waiting, not ended
    with store.read() as session:
        assert experiments.get_experiment(session, controller.experiment_id).status == "running"
    kit.request(store, "RESUME", 1)
    thread.join(10)
    assert not thread.is_alive()
    assert kit.run_of(store, 1).status == "COMPLETED"
    assert trainer.positions(1) == [0, 1, 2, 3, 4, 5]
    with store.read() as session:
        assert experiments.get_experiment(session, controller.experiment_id).status == "completed"


def test_every_op_and_run_event_is_in_the_experiment_log(store, make_controller, trainer, kit):
    trainer.hooks[(1, 0)] = lambda: kit.request(store, "DELETE", 2)
    controller = make_controller()
    controller.run()
    lines = experiment_log.tail(experiment_log.log_file(controller.experiment_path))
    text = "\n".join(lines)
    assert (" | exp | interactive-control | INFO | Received delete of run 2 (op 1) from test."
            in text)
    assert " | exp | interactive-control | INFO | Applied delete of run 2 (op 1)." in text
    assert " | exp | controller | INFO | Deleted run 2 (op 1)." in text
    assert " | exp | controller | INFO | Started run 1 " in text
    assert " | exp | controller | INFO | Run 1 completed: " in text
    assert lines[-1].endswith("| exp | controller | INFO | Experiment 'exp' completed (2 runs).")


def test_a_run_deleted_before_its_first_chunk_is_never_started(store, make_controller, kit):
    # White-box: the delete lands between the last claim of ops and the run's first launch.
    controller = make_controller(workers=2)
    controller._load_runs()
    kit.request(store, "DELETE", 2)
    controller.executor.start(controller.watch, controller._end_requested)
    try:
        controller._launch()
        assert controller.rotation.busy == {1}
        controller._drain()
    finally:
        controller.executor.close()
    run = kit.run_of(store, 2)
    assert run.status == "KILLED"  # not overwritten with ONGOING
    assert 2 not in controller.rotation.live


def test_a_stop_of_a_clone_waits_with_the_clone_op_it_follows(store, make_controller, kit):
    # While run 1 trains, a stop of it and a clone of it wait for the chunk; a stop of the
    # clone, queued after them, must wait too rather than find the clone not yet started.
    trainer = kit.CountingTrainer(seconds=0.3)
    ops = {}

    def queue() -> None:
        ops["stop_parent"] = kit.request(store, "STOP", 1)
        ops["clone"] = kit.request(store, "CLONE_MODIFY", 1, config_patch={"lr": 0.3})
        ops["stop_clone"] = kit.request(store, "STOP", ops["clone"].new_run_id)

    trainer.hooks[(1, 0)] = queue
    controller = make_controller([{"lr": 0.1}], trainer=trainer)
    thread = kit.run_in_thread(controller)
    settled = kit.wait_for(lambda: "stop_clone" in ops and kit.op_of(
        store, ops["stop_clone"].ic_id).status != "PENDING")
    controller.request_end()
    thread.join(10)
    assert settled
    clone_id = ops["clone"].new_run_id
    assert [kit.op_of(store, op.ic_id).status for op in ops.values()] == ["COMPLETED"] * 3
    assert kit.run_of(store, clone_id).status == "STOPPED"
    assert trainer.positions(clone_id) == []


def test_the_stop_check_answers_from_the_main_loops_read_of_pending_ops():
    import threading
    from types import SimpleNamespace

    from rfconsole.controller import interrupts

    watch = interrupts.InterruptWatch(threading.Event())
    watch.update([SimpleNamespace(run_id=7, operation="STOP"),
                  SimpleNamespace(run_id=8, operation="RESUME")])
    assert watch.should_stop(7)
    assert not watch.should_stop(8)
    watch.clear(7)  # the stop is applied: a resumed run's next chunk must not give way
    assert not watch.should_stop(7)
    watch.update([])  # the next turn's read replaces the last one
    watch.flag(9)
    assert watch.should_stop(9)


def test_each_loop_turn_reads_pending_ops_once_and_claims_each_op_once(
        store, make_controller, trainer, kit, monkeypatch):
    from rfconsole.db import progress

    reads = []
    claims = []
    pending_ops, claim = progress.pending_ops, progress.claim
    monkeypatch.setattr(progress, "pending_ops",
                        lambda session, experiment_id: reads.append(1) or pending_ops(
                            session, experiment_id))
    monkeypatch.setattr(progress, "claim",
                        lambda session, ops: claims.append(claim(session, ops)) or claims[-1])
    turns = []
    controller = make_controller([{"lr": 0.1}], trainer=trainer)
    turn = controller._turn
    monkeypatch.setattr(controller, "_turn", lambda done: turns.append(1) or turn(done))
    trainer.seconds = 0.05
    stop = {}
    trainer.hooks[(1, 2)] = lambda: stop.update(op=kit.request(store, "STOP", 1))
    thread = kit.run_in_thread(controller)
    assert kit.wait_for(lambda: kit.run_of(store, 1).status == "STOPPED")
    controller.request_end()
    thread.join(10)
    # one read per turn, plus the start-up read and the completion check's read at most
    assert len(reads) <= len(turns) + 2
    assert sum(claims) == 1  # the stop was stamped claimed once, however many turns saw it
    assert kit.op_of(store, stop["op"].ic_id).claimed_at is not None


def test_a_warm_clone_whose_first_checkpoint_cannot_be_saved_fails_itself(
        store, make_controller, trainer, kit):
    clone = {}
    trainer.hooks[(1, 1)] = lambda: clone.update(op=kit.request(
        store, "CLONE_MODIFY", 1, config_patch={"lr": 0.3}, warm_start=True))
    controller = make_controller([{"lr": 0.1}])
    save = controller.checkpoints.save

    def save_but_not_for_the_clone(run_id, checkpoint):
        if "op" in clone and run_id == clone["op"].new_run_id:
            raise OSError("No space left on device")
        return save(run_id, checkpoint)

    controller.checkpoints.save = save_but_not_for_the_clone
    assert controller.run().status == "completed"
    op = kit.op_of(store, clone["op"].ic_id)
    assert (op.status, op.error) == ("FAILED", "OSError: No space left on device")
    run = kit.run_of(store, clone["op"].new_run_id)
    assert (run.status, run.error) == ("FAILED", "OSError: No space left on device")
    assert trainer.positions(run.run_id) == []


def test_a_delete_whose_checkpoint_file_stays_is_still_reported_applied(
        store, make_controller, trainer, recorder, kit):
    trainer.hooks[(2, 1)] = lambda: kit.request(store, "DELETE", 2)
    controller = make_controller()

    def drop(run_id):
        raise PermissionError("read-only file system")

    controller.checkpoints.drop = drop
    assert controller.run().status == "completed"
    [op] = [e.ic_id for e in recorder.events if e.kind == events.OP_RECEIVED]
    assert kit.op_of(store, op).status == "COMPLETED"
    kinds = recorder.kinds(2)
    assert events.RUN_DELETED in kinds
    assert events.OP_APPLIED in kinds
    assert events.OP_FAILED not in kinds
    assert "read-only file system" in (
        controller.experiment_path / "logs" / "controller.log").read_text()
