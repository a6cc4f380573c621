"""The whole listing after changes is spliced from the kept one and equals a listing built afresh."""

from __future__ import annotations

from datetime import timedelta

import pytest
from rfconsole.db import Store, ic_ops, runs
from rfconsole.db.models import Run, utcnow
from rfconsole.dispatcher import create_app

from .conftest import Seeded


def _fresh_listing(store: Store) -> bytes:
    return create_app(store, prewarm=False).test_client().get("/dispatcher/get-all-runs").data


def test_spliced_listing_equals_a_fresh_one(store: Store, seeded: Seeded) -> None:
    client = create_app(store).test_client()
    client.get("/dispatcher/get-all-runs")
    listing = client.application.extensions["rfconsole"].listing
    kept = listing._full  # noqa: SLF001 - the state under test
    assert kept is not None
    steps = [
        lambda session: runs.write_run(session, seeded.ongoing, {"completed_steps": 7}),
        lambda session: runs.update_run(session, seeded.new, status="ONGOING"),
        lambda session: ic_ops.request_op(session, "CLONE_MODIFY", run_id=seeded.completed,
                                          origin="test", config_patch={"learning_rate": 0.5}),
        lambda session: ic_ops.request_op(session, "DELETE", run_id=seeded.failed, origin="test"),
    ]
    for step in steps:
        with store.write() as session:
            step(session)
        answer = client.get("/dispatcher/get-all-runs")
        assert answer.data == _fresh_listing(store)
        assert answer.headers["X-Total-Count"] == str(len(answer.get_json()))
        assert listing._full is kept  # noqa: SLF001 - spliced, not rebuilt


def test_a_write_stamped_long_ago_is_seen_at_the_next_full_check(store: Store, seeded: Seeded,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    client = create_app(store).test_client()
    client.get("/dispatcher/get-all-runs")
    with store.write() as session:  # a writer whose clock is an hour behind
        runs.write_run(session, seeded.stopped, {"completed_steps": 99})
    with store.write() as session:
        session.execute(Run.__table__.update().where(Run.__table__.c.run_id == seeded.stopped)
                        .values(updated_at=utcnow() - timedelta(hours=1)))
    monkeypatch.setattr("rfconsole.dispatcher.listing.FULL_CHECK_SECONDS", 0.0)
    assert client.get("/dispatcher/get-all-runs").data == _fresh_listing(store)
