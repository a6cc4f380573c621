"""The experiment objects say whether the experiment's controller is alive (its heartbeat)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

from flask.testing import FlaskClient
from rfconsole.db import Store, experiments
from rfconsole.db.models import CONTROLLER_ALIVE_SECONDS, Experiment, utcnow
from sqlalchemy import update

from .conftest import Seeded

ROUTES = ["/dispatcher/get-running-experiment", "/dispatcher/get-experiment-by-name/exp-a"]


def test_no_heartbeat_yet_is_not_alive(client: FlaskClient, seeded: Seeded) -> None:
    for route in ROUTES:
        body = client.get(route).get_json()
        assert body["controller_alive"] is False
        assert body["controller_seen_at"] is None


def test_a_fresh_heartbeat_is_alive_and_leaves_the_listing_etag(client: FlaskClient, seeded: Seeded,
                                                                 store: Store) -> None:
    etag = client.get("/dispatcher/get-all-runs").headers["ETag"]
    experiments.record_heartbeat(store, seeded.experiment_id)
    for route in ROUTES:
        body = client.get(route).get_json()
        assert body["controller_alive"] is True
        seen = datetime.fromisoformat(body["controller_seen_at"].replace("Z", "+00:00"))
        assert abs((utcnow() - seen).total_seconds()) < 60
    assert client.get("/dispatcher/get-all-runs", headers={"If-None-Match": etag}).status_code == 304


def test_a_stale_heartbeat_is_not_alive(client: FlaskClient, seeded: Seeded, store: Store) -> None:
    with store.write() as session:
        session.execute(update(Experiment).where(Experiment.id == seeded.experiment_id)
                        .values(controller_seen_at=utcnow() - timedelta(seconds=CONTROLLER_ALIVE_SECONDS + 5)))
    for route in ROUTES:
        body = client.get(route).get_json()
        assert body["controller_alive"] is False
        assert body["controller_seen_at"] is not None


def test_openapi_describes_the_fields() -> None:
    document = json.loads((Path(__file__).parents[2] / "dispatcher" / "openapi.json").read_text())
    experiment = document["components"]["schemas"]["Experiment"]
    assert {"controller_alive", "controller_seen_at"} <= set(experiment["required"])
    assert experiment["properties"]["controller_alive"]["type"] == "boolean"
    assert experiment["properties"]["controller_seen_at"]["nullable"] is True
