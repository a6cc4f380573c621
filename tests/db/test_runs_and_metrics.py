"""Experiments, runs and metric history."""

from __future__ import annotations

import pytest
from rfconsole.db import ConflictError, InvalidError, NotFoundError, experiments, metrics, runs


def test_experiment_lookup_and_status(store):
    with store.write() as session:
        first = experiments.create_experiment(session, name="first", experiment_path="/a")
        experiments.set_experiment_status(session, first.id, "completed")
        second = experiments.create_experiment(session, name="second", experiment_path="/b")
    with store.read() as session:
        assert experiments.get_running_experiment(session).name == "second"
        assert experiments.get_current_experiment(session).name == "second"
        assert experiments.list_experiment_names(session) == ["first", "second"]
        assert experiments.get_experiment_by_name(session, "first").ended_at is not None
    with store.write() as session:
        experiments.set_experiment_status(session, second.id, "failed", error="out of memory")
    with store.read() as session:
        assert experiments.get_running_experiment(session) is None
        current = experiments.get_current_experiment(session)
        assert (current.name, current.error) == ("second", "out of memory")
        with pytest.raises(NotFoundError, match="no experiment named 'nope'"):
            experiments.get_experiment_by_name(session, "nope")
    with store.write() as session, pytest.raises(ConflictError, match="already exists"):
        experiments.create_experiment(session, name="first", experiment_path="/c")
    with store.write() as session, pytest.raises(InvalidError, match="not an experiment status"):
        experiments.set_experiment_status(session, first.id, "RUNNING")


@pytest.mark.parametrize("name", ["lr | sweep", "a|b", "two\nlines", "tab\there"])
def test_experiment_names_the_log_cannot_keep_apart_are_refused(store, name):
    with store.write() as session, pytest.raises(InvalidError, match="pick another name"):
        experiments.create_experiment(session, name=name, experiment_path="/x")


def test_no_experiment_at_all(store):
    with store.read() as session:
        assert experiments.get_current_experiment(session) is None
        assert experiments.list_experiment_names(session) == []


def test_list_filter_page_and_count(store, seed):
    ids = [seed.run(status) for status in ["NEW", "ONGOING", "ONGOING", "STOPPED", "COMPLETED"]]
    exp = seed.experiment.id
    with store.read() as session:
        assert [r.run_id for r in runs.list_runs(session, experiment_id=exp)] == ids
        assert [r.run_id for r in runs.list_runs(session, status="ONGOING")] == ids[1:3]
        assert [r.run_id for r in runs.list_runs(session, status=["NEW", "STOPPED"])] == [
            ids[0],
            ids[3],
        ]
        assert [r.run_id for r in runs.list_runs(session, limit=2, offset=1)] == ids[1:3]
        assert runs.count_runs(session, experiment_id=exp, status="ONGOING") == 2
        with pytest.raises(InvalidError, match="not a run status"):
            runs.list_runs(session, status="running")
        with pytest.raises(InvalidError, match="zero or more"):
            runs.list_runs(session, offset=-1)


def test_run_ids_are_never_reused(store, seed):
    first = seed.run()
    with store.write() as session:
        from rfconsole.db.models import Run

        session.delete(session.get(Run, first))
    assert seed.run() == first + 1


def test_update_progress_bumps_the_revision(store, seed):
    run_id = seed.run()
    with store.read() as session:
        before = experiments.get_revision(session, seed.experiment.id)
    with store.write() as session:
        updated = runs.update_run(
            session, run_id, status="ONGOING", current_chunk=2, num_chunks_visited=3,
            metrics={"val_loss": 0.4},
        )
    assert updated.progress == pytest.approx(3 / 8)
    assert updated.updated_at >= updated.created_at
    with store.read() as session:
        assert experiments.get_revision(session, seed.experiment.id) == before + 1
        assert runs.get_run(session, run_id).metrics == {"val_loss": 0.4}
    with store.write() as session, pytest.raises(InvalidError, match="cannot be updated"):
        runs.update_run(session, run_id, source="CLONE")
    with store.write() as session, pytest.raises(NotFoundError):
        runs.update_run(session, 999, status="ONGOING")


def test_metric_history_and_downsampling(store, seed):
    run_id = seed.run()
    with store.write() as session:
        for step in range(100):
            metrics.append_metrics(
                session, run_id=run_id, values={"loss": 1 / (step + 1), "acc": step / 100},
                epoch=0, chunk=step, step=step,
            )
    with store.read() as session:
        full = metrics.metric_history(session, run_id=run_id)
        assert set(full) == {"loss", "acc"}
        assert [p.step for p in full["loss"]] == list(range(100))
        small = metrics.metric_history(session, run_id=run_id, names=["loss"], max_points=10)
        assert list(small) == ["loss"]
        steps = [p.step for p in small["loss"]]
        assert len(steps) == 10
        assert steps[0] == 0
        assert steps[-1] == 99
        assert steps == sorted(steps)
        with pytest.raises(InvalidError, match="at least 2"):
            metrics.metric_history(session, run_id=run_id, max_points=1)
