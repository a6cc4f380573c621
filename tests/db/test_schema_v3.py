"""Schema version 3: the index on runs (experiment_id, updated_at), added on open to a version-2
database, and used by the "runs written since" read of a live listing."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from rfconsole.db import Store, experiments, listing, runs
from rfconsole.db.models import RUNS_UPDATED_INDEX, SCHEMA_VERSION, utcnow
from sqlalchemy import create_engine, inspect, text

from .v2_schema import build_v2


def _version(store: Store) -> str:
    with store.engine.connect() as conn:
        return str(conn.execute(text("SELECT value FROM rfconsole_meta WHERE key = 'schema_version'")).scalar())


def _runs_indexes(store: Store) -> dict[str, list[str | None]]:
    return {index["name"]: index["column_names"] for index in inspect(store.engine).get_indexes("runs")
            if index["name"] is not None}


def test_the_schema_is_version_3(store):
    assert SCHEMA_VERSION == 3
    assert _version(store) == "3"
    assert _runs_indexes(store)[RUNS_UPDATED_INDEX] == ["experiment_id", "updated_at"]


def test_a_version_2_database_is_migrated_on_open_and_keeps_its_rows(fresh_db_url):
    raw = create_engine(fresh_db_url)
    build_v2(raw)
    with raw.connect() as conn:
        assert RUNS_UPDATED_INDEX not in {index["name"] for index in inspect(conn).get_indexes("runs")}
    raw.dispose()
    store = Store.open(fresh_db_url)
    try:
        assert _version(store) == "3"
        assert _runs_indexes(store)[RUNS_UPDATED_INDEX] == ["experiment_id", "updated_at"]
        with store.read() as session:
            experiment = experiments.get_experiment_by_name(session, "old-exp")
            run = runs.get_run(session, 1)
        assert experiment.revision == 3
        assert run.status == "STOPPED"
        assert run.config_leaf == {"lr": 0.1}
        # The changed-since read finds the old run, then a newly written one only.
        with listing.snapshot(store.engine) as snap:
            assert [row[0] for row in snap.versions_since(experiment.id, run.updated_at - timedelta(seconds=1))] == [1]
        with store.write() as session:
            added = runs.create_run(session, experiment_id=experiment.id, config_leaf={}, num_chunks=1,
                                    num_epochs=1)
        with listing.snapshot(store.engine) as snap:
            recent = snap.versions_since(experiment.id, utcnow() - timedelta(minutes=5))
        assert [row[0] for row in recent] == [added.run_id]
    finally:
        store.close()
    again = Store.open(fresh_db_url)  # opening again is a no-op
    assert _version(again) == "3"
    again.close()


def test_many_processes_opening_a_version_2_database_migrate_it_once(fresh_db_url):
    raw = create_engine(fresh_db_url)
    build_v2(raw)
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
    assert _version(store) == "3"
    store.close()


@pytest.mark.sqlite_only
def test_the_changed_since_read_uses_the_index(store, seed):
    for _ in range(3):
        seed.run()
    with store.engine.connect() as conn:
        snap = listing.ListingSnapshot(conn)
        statement = listing.versions_since_sql(conn.dialect)
        plan = conn.exec_driver_sql(
            "EXPLAIN QUERY PLAN " + statement, (seed.experiment.id, "2026-01-01 00:00:00.000000")).all()
        assert any(RUNS_UPDATED_INDEX in str(step) for step in plan), plan
        assert len(snap.versions_since(seed.experiment.id, utcnow() - timedelta(minutes=5))) == 3
