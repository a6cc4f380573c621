"""Read routes: health, runs (listing with ETag/304, one run, metrics), experiments, errors."""

from __future__ import annotations

import json

import pytest
from flask.testing import FlaskClient
from rfconsole.db import Store, experiments, ic_ops, runs
from rfconsole.dispatcher import create_app

from .conftest import Seeded

RUN_KEYS = {
    "run_id", "run_name", "experiment_name", "status", "current_chunk", "num_chunks",
    "current_epoch", "num_epochs", "num_epochs_completed", "completed_steps", "total_steps",
    "progress", "metrics", "config_leaf", "config", "flattened_config", "source", "parent_run_id",
    "warm_start", "ended_by", "error", "num_chunks_visited", "metric_run_id", "created_at",
    "updated_at",
}


def test_health_check(client: FlaskClient) -> None:
    response = client.get("/dispatcher/health-check")
    assert response.status_code == 200
    assert response.get_json() == "Dispatcher is up and running"


def test_get_all_runs_shape(client: FlaskClient, seeded: Seeded) -> None:
    response = client.get("/dispatcher/get-all-runs")
    assert response.status_code == 200
    body = response.get_json()
    assert [r["run_id"] for r in body] == sorted(r["run_id"] for r in body)
    assert len(body) == 5
    assert response.headers["X-Total-Count"] == "5"
    first = body[0]
    assert set(first) == RUN_KEYS
    assert first["status"] == "ONGOING"
    assert first["experiment_name"] == "exp-a"
    assert isinstance(first["metrics"], str)
    assert json.loads(first["metrics"]) == {"loss": 1.0}
    assert first["config"] == first["config_leaf"] == {"learning_rate": 0.1, "model": {"width": 8}}
    assert first["flattened_config"] == {"learning_rate": 0.1, "model.width": 8}
    assert first["created_at"].endswith("+00:00")
    completed = next(r for r in body if r["status"] == "COMPLETED")
    assert completed["num_chunks_visited"] == 4
    assert completed["progress"] == pytest.approx(0.5)


def test_metric_run_id_is_null_until_the_mlflow_mirror_sets_it(client: FlaskClient, store: Store,
                                                               seeded: Seeded) -> None:
    assert client.get("/dispatcher/get-all-runs").get_json()[0]["metric_run_id"] is None
    runs.set_metric_run_id(store, seeded.ongoing, "5f0c2d9e8b7a4c3d")
    listed = client.get("/dispatcher/get-all-runs").get_json()
    assert [run["metric_run_id"] for run in listed if run["run_id"] == seeded.ongoing] == [
        "5f0c2d9e8b7a4c3d"]
    one = client.post("/dispatcher/get-run", json={"run_id": seeded.ongoing}).get_json()
    assert one["metric_run_id"] == "5f0c2d9e8b7a4c3d"


def test_get_all_runs_no_experiment_is_an_empty_list(client: FlaskClient) -> None:
    response = client.get("/dispatcher/get-all-runs")
    assert response.status_code == 200
    assert response.get_json() == []
    assert response.headers["X-Total-Count"] == "0"


def test_get_all_runs_filters_and_pages(client: FlaskClient, seeded: Seeded) -> None:
    response = client.get("/dispatcher/get-all-runs?status=STOPPED,FAILED")
    assert {r["status"] for r in response.get_json()} == {"STOPPED", "FAILED"}
    assert response.headers["X-Total-Count"] == "2"
    response = client.get("/dispatcher/get-all-runs?limit=2&offset=1")
    assert [r["run_id"] for r in response.get_json()] == [seeded.new, seeded.completed]
    assert response.headers["X-Total-Count"] == "5"


def test_get_all_runs_of_a_named_experiment(client: FlaskClient, seeded: Seeded,
                                            store: Store, tmp_path) -> None:
    with store.write() as session:
        other = experiments.create_experiment(session, name="exp-b", experiment_path=str(tmp_path / "b"))
        runs.create_run(session, experiment_id=other.id, config_leaf={"x": 1}, num_chunks=1, num_epochs=1)
    # exp-b is the latest and running, so it is current now; exp-a is still reachable by name.
    assert [r["experiment_name"] for r in client.get("/dispatcher/get-all-runs").get_json()] == ["exp-b"]
    named = client.get("/dispatcher/get-all-runs?experiment=exp-a").get_json()
    assert len(named) == 5
    assert {r["experiment_name"] for r in named} == {"exp-a"}
    missing = client.get("/dispatcher/get-all-runs?experiment=nope")
    assert missing.status_code == 404
    assert "nope" in missing.get_json()["error"]


@pytest.mark.parametrize(("query", "field"), [
    ("limit=abc", "limit"), ("limit=-1", "limit"), ("limit=1.5", "limit"), ("offset=true", "offset"),
    ("status=RUNNING", "status"), ("status=ongoing", "status"), ("status=", "status"),
])
def test_get_all_runs_refuses_bad_query(client: FlaskClient, seeded: Seeded, query: str,
                                        field: str) -> None:
    response = client.get(f"/dispatcher/get-all-runs?{query}")
    assert response.status_code == 400
    assert field in response.get_json()["error"]


@pytest.mark.parametrize("too_large", ["9223372036854775808", "1" + "0" * 30])
def test_too_large_numbers_are_refused_for_being_too_large(client: FlaskClient, seeded: Seeded,
                                                           too_large: str) -> None:
    listing = client.get(f"/dispatcher/get-all-runs?limit={too_large}")
    assert listing.status_code == 400
    assert listing.get_json()["error"] == (
        f"Query parameter limit must be at most 9223372036854775807, not {too_large!r}.")
    if len(too_large) < 20:  # larger JSON numbers are read as floats: not whole numbers at all
        run = client.post("/dispatcher/get-run", data=f'{{"run_id": {too_large}}}')
        assert run.status_code == 400
        assert run.get_json()["error"] == (
            f"run_id must be at most 9223372036854775807, not {too_large}.")
    assert client.get("/dispatcher/get-all-runs?limit=00000000000000000000001").status_code == 200


def test_get_all_runs_etag_and_304(client: FlaskClient, seeded: Seeded, store: Store) -> None:
    first = client.get("/dispatcher/get-all-runs")
    etag = first.headers["ETag"]
    again = client.get("/dispatcher/get-all-runs", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.data == b""
    assert again.headers["ETag"] == etag
    weak = client.get("/dispatcher/get-all-runs", headers={"If-None-Match": f'"x", W/{etag}'})
    assert weak.status_code == 304
    # Another query is another representation: another tag.
    assert client.get("/dispatcher/get-all-runs?limit=1").headers["ETag"] != etag
    with store.write() as session:
        runs.update_run(session, seeded.new, status="ONGOING", num_chunks_visited=1)
    changed = client.get("/dispatcher/get-all-runs", headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["ETag"] != etag
    new_run = next(r for r in changed.get_json() if r["run_id"] == seeded.new)
    assert new_run["status"] == "ONGOING"
    assert new_run["num_chunks_visited"] == 1


def test_listing_row_cache_follows_every_change(client: FlaskClient, seeded: Seeded,
                                                store: Store) -> None:
    """A run encoded once is encoded again when it changes, also between two cached listings."""
    client.get("/dispatcher/get-all-runs")
    for visited in range(1, 4):
        with store.write() as session:
            runs.update_run(session, seeded.ongoing, num_chunks_visited=visited,
                            metrics={"loss": 1 / (visited + 1)})
        body = client.get("/dispatcher/get-all-runs").get_json()
        run = next(r for r in body if r["run_id"] == seeded.ongoing)
        assert run["num_chunks_visited"] == visited
        assert json.loads(run["metrics"]) == {"loss": 1 / (visited + 1)}
        page = client.get("/dispatcher/get-all-runs?limit=1").get_json()
        assert page[0]["num_chunks_visited"] == visited


def test_get_run_matches_the_listing(client: FlaskClient, seeded: Seeded) -> None:
    listing = {r["run_id"]: r for r in client.get("/dispatcher/get-all-runs").get_json()}
    for run_id, run in listing.items():
        response = client.post("/dispatcher/get-run", json={"run_id": run_id})
        assert response.status_code == 200
        assert response.get_json() == run


def test_get_run_reads_json_whatever_the_content_type(client: FlaskClient, seeded: Seeded) -> None:
    response = client.post("/dispatcher/get-run", data=json.dumps({"run_id": seeded.stopped}),
                           content_type="text/plain")
    assert response.status_code == 200
    assert response.get_json()["status"] == "STOPPED"


def test_nan_and_infinity_come_out_as_null(store: Store, tmp_path) -> None:
    nan, inf = float("nan"), float("inf")
    with store.write() as session:
        experiment = experiments.create_experiment(
            session, name="nan", experiment_path=str(tmp_path), config={"x": [nan, {"y": inf}]})
        run = runs.create_run(session, experiment_id=experiment.id, num_chunks=1, num_epochs=1,
                              config_leaf={"lr": 0.1, "w": -inf})
        runs.update_run(session, run.run_id, metrics={"loss": nan})
    client = create_app(store).test_client()
    clone = client.post("/dispatcher/clone-modify-run",
                        data=json.dumps({"run_id": run.run_id, "config": {"lr": 0.2}}),
                        content_type="application/json")
    assert clone.status_code == 200
    with store.write() as session:  # an op config holding NaN, as a driver could hand back
        ic_ops.request_clone_modify(session, run_id=run.run_id, config_patch={"z": nan},
                                    origin="test")
    listed = client.get("/dispatcher/get-all-runs").get_json()
    assert listed[0]["config"] == {"lr": 0.1, "w": None}
    assert json.loads(listed[0]["metrics"]) == {"loss": None}
    assert client.get("/dispatcher/get-running-experiment").get_json()["config"] == {
        "x": [None, {"y": None}]}
    ops = client.get("/dispatcher/get-ic-ops").get_json()
    assert ops[0]["config_leaf"] == {"lr": 0.1, "w": None, "z": None}


def test_get_run_unknown_is_404(client: FlaskClient, seeded: Seeded) -> None:
    response = client.post("/dispatcher/get-run", json={"run_id": 999})
    assert response.status_code == 404
    assert response.get_json() == {"error": "There is no run with id 999."}


@pytest.mark.parametrize(("body", "needle"), [
    ('{"run_id": "abc"}', "run_id must be a whole number"),
    ('{"run_id": true}', "run_id must be a whole number"),
    ('{"run_id": 1.5}', "run_id must be a whole number"),
    ('{"run_id": -3}', "run_id must be a whole number"),
    ('{"run_id": 100000000000000000000000}', "run_id must be a whole number"),
    ("{}", "needs run_id"),
    ("[1]", "must be a JSON object"),
    ("not json", "not valid JSON"),
    ("", "not valid JSON"),
])
def test_get_run_refuses_bad_bodies(client: FlaskClient, seeded: Seeded, body: str,
                                    needle: str) -> None:
    response = client.post("/dispatcher/get-run", data=body, content_type="application/json")
    assert response.status_code == 400
    assert needle in response.get_json()["error"]


@pytest.mark.parametrize("route", ["get-run", "stop-run", "resume-run", "delete-run",
                                   "clone-modify-run", "is-experiment-running",
                                   "get-experiment-logs", "get-ic-logs"])
def test_oversized_body_is_413_json(client: FlaskClient, seeded: Seeded, route: str) -> None:
    big = json.dumps({"run_id": 1, "padding": "x" * (1024 * 1024)})
    response = client.post(f"/dispatcher/{route}", data=big, content_type="application/json")
    assert response.status_code == 413
    assert response.get_json() == {"error": "The request body is larger than 1 MiB; send a smaller body."}


def test_413_names_the_limit_the_app_was_given(store: Store, seeded: Seeded) -> None:
    client = create_app(store, max_content_length=64 * 1024).test_client()
    big = json.dumps({"run_id": 1, "padding": "x" * (64 * 1024)})
    response = client.post("/dispatcher/get-run", data=big, content_type="application/json")
    assert response.status_code == 413
    assert response.get_json() == {"error": "The request body is larger than 64 KiB; send a smaller body."}


def test_get_run_metrics(client: FlaskClient, seeded: Seeded) -> None:
    response = client.get(f"/dispatcher/get-run-metrics?run_id={seeded.ongoing}")
    assert response.status_code == 200
    body = response.get_json()
    assert body["run_id"] == seeded.ongoing
    assert set(body["metrics"]) == {"loss", "acc"}
    assert [p["step"] for p in body["metrics"]["loss"]] == [1, 2, 3, 4, 5]
    thin = client.get(f"/dispatcher/get-run-metrics?run_id={seeded.ongoing}&names=acc&max_points=2")
    assert [p["step"] for p in thin.get_json()["metrics"]["acc"]] == [1, 5]
    assert set(thin.get_json()["metrics"]) == {"acc"}


def test_get_run_metrics_refusals(client: FlaskClient, seeded: Seeded) -> None:
    assert client.get("/dispatcher/get-run-metrics").status_code == 400
    assert client.get("/dispatcher/get-run-metrics?run_id=x").status_code == 400
    response = client.get(f"/dispatcher/get-run-metrics?run_id={seeded.ongoing}&max_points=1")
    assert response.status_code == 400
    assert "max_points" in response.get_json()["error"]
    unknown = client.get("/dispatcher/get-run-metrics?run_id=999")
    assert unknown.status_code == 404
    assert unknown.get_json() == {"error": "There is no run with id 999."}


def test_experiment_names_and_running(client: FlaskClient, seeded: Seeded, store: Store) -> None:
    assert client.get("/dispatcher/get-all-experiment-names").get_json() == ["exp-a"]
    running = client.get("/dispatcher/get-running-experiment")
    assert running.status_code == 200
    body = running.get_json()
    assert body["experiment_name"] == "exp-a"
    assert body["status"] == "running"
    assert body["num_chunks"] == 4
    assert body["config"] == {"dataset": "toy"}
    by_name = client.get("/dispatcher/get-experiment-by-name/exp-a")
    assert by_name.status_code == 200
    assert by_name.get_json() == body
    assert client.get("/dispatcher/get-experiment-by-name/nope").status_code == 404
    with store.write() as session:
        experiments.set_experiment_status(session, seeded.experiment_id, "completed")
    none = client.get("/dispatcher/get-running-experiment")
    assert none.status_code == 404
    assert "No experiment is running" in none.get_json()["error"]


def test_is_experiment_running(client: FlaskClient, seeded: Seeded, store: Store) -> None:
    ask = lambda name: client.post("/dispatcher/is-experiment-running",  # noqa: E731
                                   json={"experiment_name": name})
    assert ask("exp-a").get_json() == {"is_running": True}
    assert ask("nope").get_json() == {"is_running": False}
    with store.write() as session:
        experiments.set_experiment_status(session, seeded.experiment_id, "cancelled")
    assert ask("exp-a").get_json() == {"is_running": False}
    bad = client.post("/dispatcher/is-experiment-running", json={"experiment_name": 3})
    assert bad.status_code == 400
    assert "experiment_name" in bad.get_json()["error"]
    assert client.post("/dispatcher/is-experiment-running", json={}).status_code == 400


def test_unknown_route_and_wrong_method_are_json(client: FlaskClient) -> None:
    missing = client.get("/dispatcher/no-such-route")
    assert missing.status_code == 404
    assert missing.is_json
    assert "no-such-route" in missing.get_json()["error"]
    wrong = client.get("/dispatcher/stop-run")
    assert wrong.status_code == 405
    assert wrong.is_json
    assert wrong.get_json()["error"] == "/dispatcher/stop-run does not accept GET; use POST."
    assert "POST" in wrong.headers["Allow"]
    outside = client.get("/no-such-page")
    assert outside.status_code == 404
    assert outside.is_json
    root = client.get("/")  # the web dashboard
    assert root.status_code == 200
    assert root.mimetype == "text/html"


def test_openapi_document_is_served(client: FlaskClient) -> None:
    response = client.get("/dispatcher/openapi.json")
    assert response.status_code == 200
    assert response.get_json()["openapi"].startswith("3.")


def test_internal_error_is_500_json_without_traceback(client: FlaskClient, seeded: Seeded,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    def broken(session: object) -> list[str]:
        raise RuntimeError("disk on fire at /secret/path")

    monkeypatch.setattr(experiments, "list_experiment_names", broken)
    response = client.get("/dispatcher/get-all-experiment-names")
    assert response.status_code == 500
    assert response.get_json() == {
        "error": "The dispatcher hit an internal error; the details are in its log."}
    assert "secret" not in response.get_data(as_text=True)
    assert "disk on fire" in caplog.text  # the traceback went to the log
    assert "Traceback" in caplog.text


def test_ops_on_a_finished_experiment_are_409(client: FlaskClient, seeded: Seeded,
                                              store: Store) -> None:
    with store.write() as session:
        experiments.set_experiment_status(session, seeded.experiment_id, "completed")
    response = client.post("/dispatcher/stop-run", json={"run_id": seeded.ongoing})
    assert response.status_code == 409
    assert "exp-a" in response.get_json()["error"]


def test_app_start_prepares_the_listing(store: Store, seeded: Seeded) -> None:
    from rfconsole.dispatcher import create_app

    warm = create_app(store).extensions["rfconsole"].listing
    assert warm._full is not None  # the whole listing, encoded segment by segment
    assert set(warm._full.ids) == {seeded.ongoing, seeded.new, seeded.completed, seeded.stopped, seeded.failed}
    cold = create_app(store, prewarm=False).extensions["rfconsole"].listing
    assert cold._full is None
    assert cold._rows == {}
