"""Text holding a NUL character is refused with one sentence on every backend (PostgreSQL
cannot store it), whether it is a name, a lookup, a config string or a config key."""

from __future__ import annotations

import pytest
from rfconsole.db import InvalidError, experiments, ic_ops, runs


def test_a_name_lookup_with_nul_is_refused(store, seed):
    with store.read() as session, pytest.raises(InvalidError, match="NUL character"):
        experiments.get_experiment_by_name(session, "exp\x00")


def test_an_experiment_name_with_nul_is_refused(store):
    with store.write() as session, pytest.raises(InvalidError):
        experiments.create_experiment(session, name="a\x00b", experiment_path="/x")


@pytest.mark.parametrize("config", [{"a": "x\x00"}, {"a\x00": 1}, {"a": [{"b": ["\x00"]}]}])
def test_configs_with_nul_are_refused(store, seed, config):
    with store.write() as session, pytest.raises(InvalidError, match="holds a NUL character"):
        experiments.create_experiment(session, name="other", experiment_path="/x", config=config)
    with store.write() as session, pytest.raises(InvalidError, match="The run's config holds a NUL"):
        runs.create_run(session, experiment_id=seed.experiment.id, config_leaf={"lr": 0.1, **config},
                        num_chunks=1, num_epochs=1)
    run_id = seed.run("ONGOING")
    with store.write() as session, pytest.raises(InvalidError, match="The clone's config holds a NUL"):
        ic_ops.request_clone_modify(session, run_id=run_id, config={"lr": 0.1, **config}, origin="test")
    with store.write() as session, pytest.raises(InvalidError,
                                                 match="The clone's config_patch holds a NUL"):
        ic_ops.request_clone_modify(session, run_id=run_id, config_patch=config, origin="test")


def test_other_text_with_nul_is_refused_and_nothing_is_written(store, seed):
    run_id = seed.run("ONGOING")
    with pytest.raises(InvalidError, match="NUL character"), store.write() as session:
        ic_ops.request_stop(session, run_id=run_id, origin="console:\x00")
    with pytest.raises(InvalidError, match="NUL character"), store.write() as session:
        runs.update_run(session, run_id, error="bad\x00")
    with store.read() as session:
        assert ic_ops.list_ops(session) == []
        assert runs.get_run(session, run_id).error is None
