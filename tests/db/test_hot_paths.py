"""store.hot: the dispatcher's fast reads and requests give what the general path gives."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from rfconsole.db import ConflictError, NotFoundError, experiments, ic_ops, listing
from rfconsole.db.models import utcnow
from sqlalchemy import event, select

STATUSES = ["NEW", "ONGOING", "COMPLETED", "STOPPED", "FAILED", "KILLED"]


def test_run_row_is_the_general_paths_row(store, seed):
    run_id = seed.run("ONGOING", config={"lr": 0.5, "model": {"width": 3}})
    assert store.hot.run_row(run_id) == listing.fetch_run_row(store.engine, run_id)
    assert store.hot.run_row(run_id + 1000) is None


@pytest.mark.parametrize("operation", ["STOP", "RESUME"])
@pytest.mark.parametrize("status", STATUSES)
def test_request_follows_the_rules(store, seed, operation, status):
    run_id = seed.run(status)
    allowed = status in ic_ops.ALLOWED_FROM[operation]
    if not allowed:
        with pytest.raises(ConflictError) as refused:
            store.hot.request_op(operation, run_id=run_id, origin="test")
        assert f"Run {run_id} is {status}" in refused.value.message
        return
    op = store.hot.request_op(operation, run_id=run_id, origin="http:127.0.0.1")
    with store.read() as session:
        pending = ic_ops.list_pending(session)
    assert pending == [op]
    with pytest.raises(ConflictError, match="already pending"):
        store.hot.request_op(operation, run_id=run_id, origin="test")


def test_stored_op_matches_the_general_path(store, seed):
    fast_run, slow_run = seed.run("ONGOING"), seed.run("ONGOING")
    store.hot.request_op("STOP", run_id=fast_run, origin="o")
    with store.write() as session:
        ic_ops.request_op(session, "STOP", run_id=slow_run, origin="o")
    table = ic_ops.OPS_TABLE
    with store.engine.connect() as conn:
        stored = conn.execute(select(table).order_by(table.c.ic_id)).mappings().all()
    fast, slow = (dict(row) for row in stored)
    for row in (fast, slow):
        row.pop("ic_id")
        row.pop("run_id")
        assert row.pop("created_at") is not None
    assert fast == slow


def test_unknown_run_and_closed_experiment(store, seed):
    with pytest.raises(NotFoundError):
        store.hot.request_op("STOP", run_id=987654, origin="test")
    run_id = seed.run("ONGOING")
    with store.write() as session:
        experiments.set_experiment_status(session, seed.experiment.id, "completed")
    with pytest.raises(ConflictError, match="IC ops apply only"):
        store.hot.request_op("STOP", run_id=run_id, origin="test")


def test_each_thread_reads_on_its_own_connection_and_close_ends_them(store, seed):
    run_id = seed.run("ONGOING")
    results: list[object] = []
    threads = [threading.Thread(target=lambda: results.append(store.hot.run_row(run_id)[0][0]))
               for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [run_id] * 3
    store.close()
    if store.engine.dialect.name != "sqlite":
        return  # other databases take the general path: no connections of its own
    refused: list[BaseException] = []

    def late() -> None:
        try:
            store.hot.run_row(run_id)
        except RuntimeError as exc:
            refused.append(exc)

    worker = threading.Thread(target=late)
    worker.start()
    worker.join()
    assert "closed" in str(refused[0])


@pytest.mark.sqlite_only
def test_a_listing_snapshot_reads_in_one_transaction_on_the_drivers_cursor(store, seed):
    first = seed.run("ONGOING")
    seen: list[str] = []

    def record(conn, cursor, statement, *_):
        seen.append(statement.split()[0].upper())

    event.listen(store.engine, "before_cursor_execute", record)
    try:
        with listing.snapshot(store.engine) as snap:
            current = snap.experiment(None)
            assert current is not None
            assert snap.experiment(current.name) == current
            assert snap.experiment("no-such-experiment") is None
            assert snap.count(current.id, None) == 1
            assert [row[0] for row in snap.versions_since(current.id, utcnow() - timedelta(hours=1))] == [first]
    finally:
        event.remove(store.engine, "before_cursor_execute", record)
    assert "SELECT" not in seen  # the reads went to the driver's cursor ...
    assert seen.count("BEGIN") == 1  # ... inside the one transaction the snapshot began
