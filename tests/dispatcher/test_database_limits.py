"""What a server database (PostgreSQL) used to get wrong, checked on every backend: ids past
32 bits, text holding NUL, and identical IC requests racing each other."""

from __future__ import annotations

import threading

import pytest
from flask import Flask
from flask.testing import FlaskClient
from rfconsole.db import Store, runs

from .conftest import Seeded


def test_a_run_id_past_32_bits_is_a_404(client: FlaskClient, seeded: Seeded) -> None:
    for route in ("get-run", "stop-run", "resume-run", "delete-run"):
        response = client.post(f"/dispatcher/{route}", json={"run_id": 2**31})
        assert response.status_code == 404, route
        assert response.get_json() == {"error": f"There is no run with id {2**31}."}


def test_nul_in_a_name_or_a_config_is_a_400(client: FlaskClient, seeded: Seeded) -> None:
    by_name = client.get("/dispatcher/get-experiment-by-name/exp%00a")
    assert by_name.status_code == 400
    assert "NUL character" in by_name.get_json()["error"]
    listing = client.get("/dispatcher/get-all-runs?experiment=exp%00a")
    assert listing.status_code == 400
    assert "error" in listing.get_json()
    clone = client.post("/dispatcher/clone-modify-run",
                        json={"run_id": seeded.ongoing, "config": {"model": {"name": "a\u0000b"}}})
    assert clone.status_code == 400
    assert "NUL character" in clone.get_json()["error"]


def _race(app: Flask, route: str, bodies: list[dict[str, object]], copies: int) -> list[int]:
    barrier = threading.Barrier(len(bodies) * copies)
    statuses: list[int] = []
    lock = threading.Lock()

    def send(body: dict[str, object]) -> None:
        client = app.test_client()
        barrier.wait()
        status = client.post(f"/dispatcher/{route}", json=body).status_code
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=send, args=(body,)) for body in bodies for _ in range(copies)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


@pytest.mark.slow
def test_identical_resumes_and_clones_race_to_one_each(app: Flask, store: Store, seeded: Seeded) -> None:
    with store.write() as session:
        stopped = [runs.create_run(session, experiment_id=seeded.experiment_id, config_leaf={"learning_rate": 0.1},
                                   num_chunks=4, num_epochs=2).run_id for _ in range(30)]
        for run_id in stopped:
            runs.update_run(session, run_id, status="STOPPED")
    resumes = _race(app, "resume-run", [{"run_id": run_id} for run_id in stopped], copies=8)
    assert sorted(set(resumes)) == [200, 409]
    assert resumes.count(200) == 30
    parents = stopped[:10]
    with store.read() as session:
        before = runs.count_runs(session, experiment_id=seeded.experiment_id)
    clones = _race(app, "clone-modify-run",
                   [{"run_id": run_id, "config": {"learning_rate": 0.5}} for run_id in parents], copies=8)
    assert clones.count(200) == 10
    assert set(clones) == {200, 409}
    with store.read() as session:
        assert runs.count_runs(session, experiment_id=seeded.experiment_id) == before + 10
