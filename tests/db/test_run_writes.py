"""Every change of a run row goes through runs.write_run: its checks, its stamp, its revision rule."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from rfconsole.db import ACTIVE_RUN_STATUSES, InvalidError, experiments, runs

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("db", "dispatcher", "controller", "console")
# An UPDATE of the runs table, however it is spelled: Core or ORM statements on the model or its
# table (under any alias of it), a table's .update(), or SQL text.
RUN_UPDATE = re.compile(
    r"update\(\s*(Run\b|_?RUNS\b|Run\.__table__)|__table__\.update\(|\bUPDATE\s+\"?runs\b",
    re.IGNORECASE,
)
# An ORM row of Run changed by attribute (`row.status = ...` after `session.get(Run, ...)`).
ORM_RUN_ROW = re.compile(r"session\.get\(\s*Run\b")


def test_the_runs_table_is_updated_in_one_place_only():
    writers = sorted(str(path.relative_to(ROOT)) for package in PACKAGES
                     for path in (ROOT / package).rglob("*.py") if RUN_UPDATE.search(path.read_text()))
    assert writers == ["db/runs.py"]


def test_no_module_loads_an_orm_run_row_to_change_it():
    # db/runs.py reads one (get_run); nothing else loads ORM run rows, which could be flushed back.
    loaders = sorted(str(path.relative_to(ROOT)) for package in PACKAGES
                     for path in (ROOT / package).rglob("*.py") if ORM_RUN_ROW.search(path.read_text()))
    assert loaders == ["db/runs.py"]
    assert "setattr(" not in (ROOT / "db" / "runs.py").read_text()


def _revision(store, experiment_id):
    with store.read() as session:
        return experiments.get_revision(session, experiment_id)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"run_name": "renamed"}, "'run_name' cannot be updated"),
        ({"source": "CLONE"}, "'source' cannot be updated"),
        ({"status": "DONE"}, "'DONE' is not a run status"),
        ({"config_leaf": [1, 2]}, "must be a JSON object"),
        ({"metric_run_id": "a\nb"}, "printable characters"),
    ],
)
def test_a_bad_write_is_refused_before_anything_changes(store, seed, fields, message):
    run_id = seed.run("ONGOING")
    revision = _revision(store, seed.experiment.id)
    with store.write() as session, pytest.raises(InvalidError, match=message):
        runs.write_run(session, run_id, fields)
    with store.read() as session:
        assert runs.get_run(session, run_id).status == "ONGOING"
    assert _revision(store, seed.experiment.id) == revision


def test_a_write_stamps_flattens_and_bumps_the_revision_once_per_transaction(store, seed):
    first, second = seed.run("ONGOING"), seed.run("NEW")
    with store.read() as session:
        before = runs.get_run(session, first).updated_at
    revision = _revision(store, seed.experiment.id)
    with store.write() as session:
        assert runs.write_run(session, first, {"config_leaf": {"optim": {"lr": 0.1}}})
        assert runs.write_run(session, first, {"completed_steps": 5})
        assert runs.write_run(session, second, {"status": "ONGOING"})
        # a row this transaction read before is read again as it now is
        assert runs.get_run(session, first).completed_steps == 5
    with store.read() as session:
        run = runs.get_run(session, first)
    assert run.flattened_config == {"optim.lr": 0.1}
    assert run.updated_at > before
    assert _revision(store, seed.experiment.id) == revision + 1


def test_only_from_leaves_a_run_in_another_status_alone(store, seed):
    killed = seed.run("KILLED")
    revision = _revision(store, seed.experiment.id)
    with store.write() as session:
        assert not runs.write_run(session, killed, {"status": "COMPLETED"}, only_from=ACTIVE_RUN_STATUSES)
        assert not runs.write_run(session, 10**6, {"status": "COMPLETED"})
        assert not runs.write_run(session, 2**70, {"status": "COMPLETED"})
    with store.read() as session:
        assert runs.get_run(session, killed).status == "KILLED"
    assert _revision(store, seed.experiment.id) == revision


def test_a_new_run_is_named_after_its_id_and_bumps_the_revision(store, seed):
    revision = _revision(store, seed.experiment.id)
    with store.write() as session:
        run = runs.create_run(session, experiment_id=seed.experiment.id, config_leaf={"a": {"b": 1}},
                              num_chunks=2, num_epochs=1)
    assert (run.run_name, run.status, run.flattened_config, run.metrics) == (
        f"run_{run.run_id}", "NEW", {"a.b": 1}, {})
    assert _revision(store, seed.experiment.id) == revision + 1
