"""Schema version 2: the migration from version 1 on open (on to the current version), 64-bit
ids, the controller heartbeat and the metrics-tracker run id."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from rfconsole.db import InvalidError, NotFoundError, Store, experiments, ic_ops, runs
from rfconsole.db.models import CONTROLLER_ALIVE_SECONDS, SCHEMA_VERSION, Experiment, utcnow
from sqlalchemy import create_engine, inspect, text, update

from .v1_schema import build_v1


def _version(store: Store) -> str:
    with store.engine.connect() as conn:
        return str(conn.execute(text("SELECT value FROM rfconsole_meta WHERE key = 'schema_version'")).scalar())


def _jump_run_ids(session, big: int) -> None:
    """Make the next run id big + 1 (a run must exist already)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT setval(pg_get_serial_sequence('runs', 'run_id'), :v)"), {"v": big})
    else:
        session.execute(text("UPDATE sqlite_sequence SET seq = :v WHERE name = 'runs'"), {"v": big})


def test_a_version_1_database_is_migrated_on_open_and_keeps_its_rows(fresh_db_url):
    raw = create_engine(fresh_db_url)
    build_v1(raw)
    raw.dispose()
    store = Store.open(fresh_db_url)
    try:
        assert _version(store) == str(SCHEMA_VERSION)
        with store.read() as session:
            experiment = experiments.get_experiment_by_name(session, "old-exp")
            run = runs.get_run(session, 1)
        assert experiment.revision == 3
        assert experiment.controller_seen_at is None
        assert experiment.controller_alive is False
        assert run.status == "STOPPED"
        assert run.config_leaf == {"lr": 0.1}
        assert run.metric_run_id is None
        # The new columns work, and new rows get ids after the old ones.
        experiments.record_heartbeat(store, experiment.id)
        assert runs.set_metric_run_id(store, 1, "abc123").metric_run_id == "abc123"
        with store.write() as session:
            added = runs.create_run(session, experiment_id=experiment.id, config_leaf={}, num_chunks=1,
                                    num_epochs=1)
        assert added.run_id == 2
        if store.engine.dialect.name == "postgresql":
            for table, column in [("runs", "run_id"), ("runs", "experiment_id"), ("metrics", "run_id"),
                                  ("interactive_control", "new_run_id"), ("experiments", "id")]:
                types = {c["name"]: str(c["type"]) for c in inspect(store.engine).get_columns(table)}
                assert types[column] == "BIGINT", (table, column)
        with store.read() as session:
            assert experiments.get_experiment(session, experiment.id).controller_alive is True
        with store.write() as session:
            _jump_run_ids(session, 2**40)
            past = runs.create_run(session, experiment_id=experiment.id, config_leaf={}, num_chunks=1,
                                   num_epochs=1)
        assert past.run_id == 2**40 + 1
    finally:
        store.close()
    # Opening again is a no-op.
    again = Store.open(fresh_db_url)
    assert _version(again) == str(SCHEMA_VERSION)
    again.close()


def test_ids_past_32_bits_work(store, seed):
    big = 2**40
    seed.run()
    with store.write() as session:
        _jump_run_ids(session, big)
        created = runs.create_run(session, experiment_id=seed.experiment.id, config_leaf={"lr": 0.1},
                                  num_chunks=1, num_epochs=1)
    assert created.run_id == big + 1
    with store.read() as session:
        assert runs.get_run(session, big + 1).run_name == f"run_{big + 1}"
    with store.write() as session:
        op = ic_ops.request_stop(session, run_id=big + 1, origin="test")
    assert op.run_id == big + 1


def test_many_processes_opening_a_version_1_database_migrate_it_once(fresh_db_url):
    raw = create_engine(fresh_db_url)
    build_v1(raw)
    raw.dispose()
    errors: list[BaseException] = []

    def open_it() -> None:
        try:
            Store.open(fresh_db_url).close()
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    store = Store.open(fresh_db_url)
    assert _version(store) == str(SCHEMA_VERSION)
    store.close()


# --- the controller heartbeat ----------------------------------------------------


def test_record_heartbeat_stamps_the_time_and_leaves_the_revision(store, seed):
    with store.read() as session:
        before = experiments.get_experiment(session, seed.experiment.id)
    assert before.controller_seen_at is None
    assert before.controller_alive is False
    experiments.record_heartbeat(store, seed.experiment.id)
    with store.read() as session:
        after = experiments.get_experiment(session, seed.experiment.id)
        assert experiments.get_revision(session, seed.experiment.id) == before.revision
    assert after.revision == before.revision
    assert after.controller_seen_at is not None
    assert abs((utcnow() - after.controller_seen_at).total_seconds()) < 60
    assert after.controller_alive is True
    assert after.model_dump()["controller_alive"] is True


def test_an_old_heartbeat_is_not_alive(store, seed):
    stale = utcnow() - timedelta(seconds=CONTROLLER_ALIVE_SECONDS + 1)
    with store.write() as session:
        session.execute(update(Experiment).where(Experiment.id == seed.experiment.id)
                        .values(controller_seen_at=stale))
    with store.read() as session:
        experiment = experiments.get_experiment(session, seed.experiment.id)
    assert experiment.controller_seen_at == stale
    assert experiment.controller_alive is False


@pytest.mark.parametrize("bad", [999, -1, 2**63, True, "1"])
def test_heartbeat_of_an_unknown_experiment_is_not_found(store, seed, bad):
    with pytest.raises(NotFoundError, match="There is no experiment with id"):
        experiments.record_heartbeat(store, bad)


# --- the metrics-tracker run id --------------------------------------------------


def test_set_metric_run_id_bumps_the_revision(store, seed):
    run_id = seed.run()
    with store.read() as session:
        revision = experiments.get_revision(session, seed.experiment.id)
    updated = runs.set_metric_run_id(store, run_id, "0a1b2c3d4e5f")
    assert updated.metric_run_id == "0a1b2c3d4e5f"
    with store.read() as session:
        assert runs.get_run(session, run_id).metric_run_id == "0a1b2c3d4e5f"
        assert experiments.get_revision(session, seed.experiment.id) == revision + 1
    assert runs.set_metric_run_id(store, run_id, None).metric_run_id is None


@pytest.mark.parametrize("bad", ["", "a\nb", "nul\x00", "x" * 201, 42])
def test_set_metric_run_id_refuses_bad_values(store, seed, bad):
    run_id = seed.run()
    with pytest.raises(InvalidError, match="A metric run id must be"):
        runs.set_metric_run_id(store, run_id, bad)


def test_set_metric_run_id_of_an_unknown_run_is_not_found(store, seed):
    with pytest.raises(NotFoundError, match="There is no run with id 99"):
        runs.set_metric_run_id(store, 99, "abc")
    with pytest.raises(NotFoundError):
        runs.set_metric_run_id(store, 2**64, "abc")
