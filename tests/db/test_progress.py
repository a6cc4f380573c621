"""The controller's fast paths in db.progress: the per-chunk write, the pending-ops read, the claim."""

from __future__ import annotations

import pytest
from rfconsole.db import experiments, ic_ops, metrics, progress, runs

FIELDS = {"num_chunks_visited": 1, "current_epoch": 1, "current_chunk": 1,
          "metrics": {"loss": 0.5}, "completed_steps": 10, "checkpoint_path": "/x/run_1.odd.ckpt"}


def _revision(store, experiment_id):
    with store.read() as session:
        return experiments.get_revision(session, experiment_id)


def test_a_chunk_write_stamps_updated_at_appends_history_and_bumps_the_revision(store, seed):
    run_id = seed.run("ONGOING")
    with store.read() as session:
        before = runs.get_run(session, run_id).updated_at
    revision = _revision(store, seed.experiment.id)
    points = [{"epoch": 1, "chunk": 1, "step": 10, "name": "loss", "value": 0.5}]
    with store.write() as session:
        progress.record_chunks(session, seed.experiment.id,
                               [progress.ChunkRecord(run_id, FIELDS, points, only_active=True)])
    with store.read() as session:
        run = runs.get_run(session, run_id)
        history = metrics.metric_history(session, run_id=run_id, names=["loss"])["loss"]
    assert (run.num_chunks_visited, run.completed_steps, run.metrics) == (1, 10, {"loss": 0.5})
    assert run.updated_at > before
    assert [(p.step, p.value) for p in history] == [(10, 0.5)]
    assert _revision(store, seed.experiment.id) == revision + 1


def test_a_chunk_of_a_run_killed_meanwhile_changes_nothing(store, seed):
    run_id = seed.run("KILLED")
    points = [{"epoch": 1, "chunk": 1, "step": 10, "name": "loss", "value": 0.5}]
    with store.write() as session:
        progress.record_chunks(session, seed.experiment.id,
                               [progress.ChunkRecord(run_id, {**FIELDS, "status": "COMPLETED"},
                                                     points, only_active=True)])
    with store.read() as session:
        assert runs.get_run(session, run_id).status == "KILLED"
        assert metrics.metric_history(session, run_id=run_id, names=["loss"]) == {}


def test_pending_ops_are_read_oldest_first_and_claimed_once(store, seed):
    first, second = seed.run("ONGOING"), seed.run("ONGOING")
    with store.write() as session:
        stop = ic_ops.request_stop(session, run_id=second, origin="test")
        delete = ic_ops.request_delete(session, run_id=first, origin="test")
    with store.read() as session:
        pending = progress.pending_ops(session, seed.experiment.id)
    assert [op.ic_id for op in pending] == [stop.ic_id, delete.ic_id]
    with store.write() as session:
        assert progress.claim(session, pending) == 2
    with store.read() as session:
        stamped = progress.pending_ops(session, seed.experiment.id)
    assert all(op.claimed_at is not None for op in stamped)
    with store.write() as session:
        assert progress.claim(session, stamped) == 0  # a later turn stamps nothing again
        assert progress.claim(session, pending) == 0  # not even from a stale read
    with store.read() as session:
        assert [op.claimed_at for op in progress.pending_ops(session, seed.experiment.id)] == [
            op.claimed_at for op in stamped]


def test_start_run_only_moves_a_new_run(store, seed):
    new, killed = seed.run(), seed.run("KILLED")
    with store.write() as session:
        assert progress.start_run(session, new)
        assert not progress.start_run(session, killed)
    with store.read() as session:
        assert runs.get_run(session, new).status == "ONGOING"
        assert runs.get_run(session, killed).status == "KILLED"


@pytest.mark.sqlite_only
def test_a_run_row_that_cannot_be_read_is_named_and_the_others_are_read(store, seed):
    good, bad = seed.run(), seed.run("ONGOING")
    with store.engine.begin() as connection:
        connection.exec_driver_sql(f"UPDATE runs SET config_leaf = '[1' WHERE run_id = {bad}")
    with store.write() as session:
        readable, unreadable = progress.readable_runs(session, seed.experiment.id)
        progress.fail_run(session, bad, unreadable[bad][1])
    assert [run.run_id for run in readable] == [good]
    assert list(unreadable) == [bad]
    assert unreadable[bad][0] == "ONGOING"
    assert "cannot be read" in unreadable[bad][1]
    with store.engine.connect() as connection:
        status = connection.exec_driver_sql(
            f"SELECT status FROM runs WHERE run_id = {bad}").scalar_one()
    assert status == "FAILED"
