"""Checkpoint files: atomic, kept in memory, readable by a later process; experiment folders."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from rfconsole.controller import Checkpoint, CheckpointStore
from rfconsole.controller.checkpoints import CheckpointRefused
from rfconsole.controller.paths import default_experiment_path, folder_name
from rfconsole.db import Store


def test_save_load_drop(tmp_path):
    store = CheckpointStore(tmp_path / "exp")
    state = {"w": np.arange(3.0)}
    path = store.save(4, Checkpoint(state, position=7, completed_steps=70))
    assert path == tmp_path / "exp" / "checkpoints" / "run_4.odd.ckpt"
    assert [p.name for p in path.parent.iterdir()] == ["run_4.odd.ckpt"]  # no temporary left
    assert store.load(4, str(path)).position == 7

    later = CheckpointStore(tmp_path / "exp")  # a restarted controller reads the file
    loaded = later.load(4, str(path))
    assert (loaded.position, loaded.completed_steps) == (7, 70)
    np.testing.assert_array_equal(loaded.state["w"], state["w"])

    later.forget(4)
    assert path.exists()
    later.drop(4)
    assert not path.exists()
    assert later.load(4, None) is None  # no checkpoint committed: start from scratch


def test_a_file_that_is_not_a_checkpoint_is_refused(tmp_path):
    store = CheckpointStore(tmp_path)
    store.folder.mkdir(parents=True)
    path = store.path_for(1, 1)
    path.write_bytes(pickle.dumps({"not": "a checkpoint"}))
    with pytest.raises(CheckpointRefused, match="not an rfconsole checkpoint"):
        store.load(1, str(path))


def test_default_experiment_path_sits_beside_the_database(db_path):
    store = Store.open(str(db_path))
    try:
        path = default_experiment_path(store, "../etc/lr sweep")
    finally:
        store.close()
    assert path == db_path.parent / "experiments" / "etc_lr_sweep"
    assert folder_name("...") == "experiment"


def test_without_the_memory_copy_every_load_reads_the_file(tmp_path):
    store = CheckpointStore(tmp_path, keep_in_memory=False)
    store.save(1, Checkpoint({"w": 1.0}, position=1, completed_steps=1))
    path = store.save(1, Checkpoint({"w": 2.0}, position=2, completed_steps=2))
    first, second = store.load(1, path), store.load(1, path)
    assert first.state == {"w": 2.0}
    assert first is not second  # read from disk both times


def test_a_new_experiment_never_picks_up_old_checkpoints(db_path, tmp_path):
    from rfconsole.controller.paths import fresh_experiment_folder
    from rfconsole.db import ConflictError

    store = Store.open(str(db_path))
    try:
        first = fresh_experiment_folder(store, "sweep")
        CheckpointStore(first).save(1, Checkpoint({}, 3, 3))  # left by a deleted database
        second = fresh_experiment_folder(store, "sweep")
        assert second == first.with_name("sweep-2")
        with pytest.raises(ConflictError, match="already holds another experiment's checkpoints"):
            fresh_experiment_folder(store, "sweep", first)
        assert fresh_experiment_folder(store, "sweep", tmp_path / "mine") == tmp_path / "mine"
    finally:
        store.close()


def test_a_state_that_cannot_be_saved_leaves_the_previous_checkpoint(tmp_path):
    store = CheckpointStore(tmp_path, keep_in_memory=False)
    path = store.save(1, Checkpoint({"w": 1.0}, position=1, completed_steps=1))
    with pytest.raises((pickle.PicklingError, AttributeError, TypeError)):
        store.save(1, Checkpoint({"w": lambda: 0}, position=1, completed_steps=2))
    assert [p.name for p in store.folder.iterdir()] == ["run_1.odd.ckpt"]
    assert store.load(1, path).completed_steps == 1
