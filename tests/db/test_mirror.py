"""The reads a follower of an experiment (the MLflow mirror process) polls."""

from __future__ import annotations

from datetime import timedelta

from rfconsole.db import Store, runs
from rfconsole.db import mirror as follow


def test_a_poll_names_every_run_first_then_only_the_runs_written_since(store: Store, seed) -> None:
    first, second = seed.run(), seed.run()
    seen = follow.changes(store, seed.experiment.id, None)
    assert seen.run_ids == [first, second]

    quiet = follow.changes(store, seed.experiment.id, seen.read_at, seen.revision)
    assert quiet.revision == seen.revision
    assert quiet.run_ids == []

    with store.write() as session:
        runs.update_run(session, second, status="ONGOING")
    later = follow.changes(store, seed.experiment.id, seen.read_at, seen.revision)
    assert later.revision != seen.revision
    assert later.run_ids == [second]
    # Looking back further (the margin for transactions still committing) names more, never fewer.
    wider = follow.changes(store, seed.experiment.id, seen.read_at - timedelta(hours=1),
                           seen.revision)
    assert wider.run_ids == [first, second]


def test_an_unknown_experiment_has_no_revision_and_no_runs(store: Store) -> None:
    assert follow.changes(store, 999, None)[:2] == (-1, [])


def test_the_connection_url_opens_the_same_database_password_and_all(store: Store, seed) -> None:
    run_id = seed.run()
    other = Store.open(follow.connection_url(store), create=False)  # what the child process does
    try:
        assert follow.changes(other, seed.experiment.id, None).run_ids == [run_id]
    finally:
        other.close()
