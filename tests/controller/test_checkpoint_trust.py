"""Checkpoints are trusted only where the controller wrote them, signed with the experiment's key."""

from __future__ import annotations

import os
import pickle
import stat

import pytest
from rfconsole.controller import Checkpoint, CheckpointStore, events
from rfconsole.controller.checkpoints import KEY_FILE, MAGIC, CheckpointRefused
from rfconsole.controller.live import ENDED_BY_CANCEL
from rfconsole.db import experiments, runs


class Payload:
    """A pickle that, if ever loaded, creates the file `marker` (it runs code)."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def crafted(path, marker, header: bytes = b"") -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(header + pickle.dumps(Payload(str(marker))))
    return str(path)


def test_a_crafted_pickle_inside_the_folder_is_refused_before_unpickling(tmp_path):
    store = CheckpointStore(tmp_path / "exp")
    store.save(1, Checkpoint({"w": 1.0}, 1, 1))  # the key exists
    marker = tmp_path / "pwned"
    plain = crafted(store.path_for(1, 2), marker)
    restarted = CheckpointStore(tmp_path / "exp")  # nothing in memory
    with pytest.raises(CheckpointRefused, match="not an rfconsole checkpoint"):
        restarted.load(1, plain)
    forged = crafted(store.path_for(1, 3), marker, MAGIC + b"\0" * 32)
    with pytest.raises(CheckpointRefused, match="not signed by this experiment's controller"):
        restarted.load(1, forged)
    assert not marker.exists()


def test_a_path_outside_the_checkpoints_folder_is_refused(tmp_path):
    store = CheckpointStore(tmp_path / "exp")
    good = store.save(1, Checkpoint({"w": 1.0}, 1, 1))
    marker = tmp_path / "pwned"
    outside = crafted(tmp_path / "evil.ckpt", marker)
    traversal = str(store.folder / ".." / ".." / "evil.ckpt")
    link = store.folder / "run_1_9.ckpt"
    link.symlink_to(tmp_path / "evil.ckpt")
    copy = tmp_path / "copy.ckpt"
    copy.write_bytes(good.read_bytes())  # even a signed checkpoint, once outside
    fresh = CheckpointStore(tmp_path / "exp")  # nothing in memory
    for path in (outside, traversal, str(link), str(copy), "/etc/passwd"):
        with pytest.raises(CheckpointRefused, match="outside this experiment's checkpoints"):
            fresh.load(1, path)
    assert not marker.exists()
    assert fresh.load(1, str(good)).position == 1


def test_a_checkpoint_of_another_run_or_experiment_is_refused(tmp_path):
    ours = CheckpointStore(tmp_path / "ours")
    theirs = CheckpointStore(tmp_path / "theirs")
    path = theirs.save(1, Checkpoint({"w": 1.0}, 1, 1))
    moved = ours.folder / path.name
    ours.save(2, Checkpoint({}, 1, 1))
    moved.write_bytes(path.read_bytes())
    with pytest.raises(CheckpointRefused, match="not signed"):
        CheckpointStore(tmp_path / "ours").load(1, str(moved))
    other_run = ours.path_for(2, 1)
    with pytest.raises(CheckpointRefused, match="for run 1"):
        CheckpointStore(tmp_path / "ours").load(1, str(other_run))


def test_the_key_is_private_and_a_readable_key_is_refused(tmp_path):
    store = CheckpointStore(tmp_path / "exp")
    path = store.save(1, Checkpoint({}, 1, 1))
    key = tmp_path / "exp" / KEY_FILE
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    os.chmod(key, 0o644)
    with pytest.raises(CheckpointRefused, match="can be read by other users"):
        CheckpointStore(tmp_path / "exp").load(1, str(path))


def test_a_key_of_another_user_is_refused(tmp_path, monkeypatch):
    store = CheckpointStore(tmp_path / "exp")
    path = store.save(1, Checkpoint({}, 1, 1))
    owner = (tmp_path / "exp" / KEY_FILE).stat().st_uid
    monkeypatch.setattr(os, "getuid", lambda: owner + 1)  # as if another user ran the controller
    with pytest.raises(CheckpointRefused, match="belongs to another user"):
        CheckpointStore(tmp_path / "exp").load(1, str(path))


def test_a_truncated_checkpoint_is_refused_with_a_reason(tmp_path):
    store = CheckpointStore(tmp_path / "exp")
    path = store.save(1, Checkpoint({"w": list(range(100))}, 1, 1))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointRefused, match="not signed"):
        CheckpointStore(tmp_path / "exp").load(1, str(path))
    path.write_bytes(data[:10])
    with pytest.raises(CheckpointRefused, match="truncated"):
        CheckpointStore(tmp_path / "exp").load(1, str(path))


# --- the controller: one bad run fails alone -------------------------------------------------

def _cancelled_after_two_chunks(store, make_controller, recorder, configs):
    holder = {}
    recorder.then(lambda e: e.kind == events.CHUNK_DONE and e.details["position"] == 2,
                  lambda: holder["controller"].request_end())
    controller = make_controller(configs)
    holder["controller"] = controller
    assert controller.run().status == "cancelled"
    return controller


def test_a_crafted_checkpoint_path_in_a_run_row_fails_that_run_only(
        store, make_controller, recorder, kit, tmp_path):
    configs = [{"lr": 0.1}, {"lr": 0.2}, {"lr": 0.3}]
    first = _cancelled_after_two_chunks(store, make_controller, recorder, configs)
    marker = tmp_path / "pwned"
    outside = crafted(tmp_path / "evil.ckpt", marker)
    inside = crafted(first.checkpoints.path_for(2, 1), marker)
    with store.write() as session:
        runs.update_run(session, 1, checkpoint_path=outside)
        runs.update_run(session, 2, checkpoint_path=inside)

    again = make_controller(configs)
    assert again.run().status == "completed"  # the experiment stays operable
    assert not marker.exists()  # the payload never ran
    one, two, three = (kit.run_of(store, run_id) for run_id in (1, 2, 3))
    assert (one.status, two.status, three.status) == ("FAILED", "FAILED", "COMPLETED")
    assert "outside this experiment's checkpoints folder" in one.error
    assert "not an rfconsole checkpoint" in two.error
    assert events.RUN_FAILED in recorder.kinds(1)


def test_a_truncated_checkpoint_fails_one_run_and_the_others_go_on(
        store, make_controller, recorder, kit):
    configs = [{"lr": 0.1}, {"lr": 0.2}]
    _cancelled_after_two_chunks(store, make_controller, recorder, configs)
    path = kit.run_of(store, 1).checkpoint_path
    with open(path, "r+b") as handle:
        handle.truncate(20)
    again = make_controller(configs)
    assert again.run().status == "completed"  # not `failed`: the experiment stays operable
    failed, other = kit.run_of(store, 1), kit.run_of(store, 2)
    assert failed.status == "FAILED"
    assert "is not signed" in failed.error or "truncated" in failed.error
    assert other.status == "COMPLETED"
    assert len(kit.losses(store, 2)) == 6


@pytest.mark.sqlite_only  # a server database refuses invalid JSON in a JSON column
def test_a_run_row_that_cannot_be_read_fails_alone(store, make_controller, recorder, kit):
    configs = [{"lr": 0.1}, {"lr": 0.2}]
    first = _cancelled_after_two_chunks(store, make_controller, recorder, configs)
    with store.engine.begin() as connection:
        connection.exec_driver_sql("UPDATE runs SET config_leaf = '{not json' WHERE run_id = 1")
    again = make_controller(configs)
    assert again.run().status == "completed"
    with store.read() as session:
        assert experiments.get_experiment(session, first.experiment_id).status == "completed"
    with store.engine.connect() as connection:
        status, error = connection.exec_driver_sql(
            "SELECT status, error FROM runs WHERE run_id = 1").one()
    assert status == "FAILED"
    assert "cannot be read" in error
    assert kit.run_of(store, 2).status == "COMPLETED"


def test_a_resume_whose_checkpoint_was_replaced_fails_the_run(store, make_controller, kit,
                                                              recorder):
    trainer = kit.CountingTrainer()
    trainer.checkpoints_in_memory = False  # every load reads the file
    holder = {}

    def tamper_then_resume() -> None:
        path = kit.run_of(store, 1).checkpoint_path
        with open(path, "wb") as handle:
            handle.write(pickle.dumps({"w": 9.0}))
        holder["resume"] = kit.request(store, "RESUME", 1)

    trainer.hooks[(1, 1)] = lambda: kit.request(store, "STOP", 1)
    recorder.then(lambda e: e.kind == events.RUN_STOPPED, tamper_then_resume)
    controller = make_controller([{"lr": 0.1}, {"lr": 0.2}], trainer=trainer)
    assert controller.run().status == "completed"
    run = kit.run_of(store, 1)
    assert run.status == "FAILED"
    assert "not an rfconsole checkpoint" in run.error
    op = kit.op_of(store, holder["resume"].ic_id)
    assert op.status == "FAILED"
    assert "not an rfconsole checkpoint" in op.error
    assert kit.run_of(store, 2).status == "COMPLETED"
    assert run.ended_by != ENDED_BY_CANCEL
