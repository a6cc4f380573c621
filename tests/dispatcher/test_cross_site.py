"""No other site and no re-pointed host name changes state; RapidFire's clients keep working."""

from __future__ import annotations

import json
import logging
import urllib.request
from collections.abc import Iterator

import pytest
import requests
from flask.testing import FlaskClient
from rfconsole.db import Store, runs
from rfconsole.dispatcher import create_app
from rfconsole.dispatcher.server import DispatcherServer

from .conftest import Seeded


def _status(store: Store, run_id: int) -> str:
    with store.read() as session:
        return runs.get_run(session, run_id).status


def _pending_ops(client: FlaskClient) -> list[dict]:
    return client.get("/dispatcher/all-operations").get_json()


def test_text_plain_from_another_site_is_refused_and_changes_nothing(
        client: FlaskClient, seeded: Seeded) -> None:
    # What a web page can send to another site without a preflight.
    response = client.post("/dispatcher/delete-run", data=json.dumps({"run_id": seeded.stopped}),
                           content_type="text/plain", headers={"Origin": "http://evil.example"})
    assert response.status_code == 403
    assert "evil.example" in response.get_json()["error"]
    assert _pending_ops(client) == []


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x", None])
def test_op_bodies_must_be_declared_json(client: FlaskClient, seeded: Seeded, content_type: str | None) -> None:
    headers = {} if content_type is None else {"Content-Type": content_type}
    for route in ("stop-run", "resume-run", "delete-run", "clone-modify-run"):
        response = client.post(f"/dispatcher/{route}", data=json.dumps({"run_id": seeded.stopped}),
                               headers=headers)
        assert response.status_code == 415, route
        assert "Content-Type: application/json" in response.get_json()["error"]
    assert _pending_ops(client) == []


@pytest.mark.parametrize("origin", ["http://evil.example", "null", "http://localhost.evil.example",
                                    "http://127.0.0.1.evil.example:8081", "https://evil.example:3000"])
def test_a_foreign_origin_is_refused_on_every_non_get_route(
        client: FlaskClient, seeded: Seeded, origin: str) -> None:
    for route, body in [("stop-run", {"run_id": seeded.ongoing}), ("get-run", {"run_id": seeded.ongoing}),
                        ("get-ic-logs", {}), ("is-experiment-running", {"experiment_name": "exp-a"})]:
        response = client.post(f"/dispatcher/{route}", json=body, headers={"Origin": origin})
        assert response.status_code == 403, route
    # Reading is not refused (the browser withholds the answer from a page without a CORS grant).
    listing = client.get("/dispatcher/get-all-runs", headers={"Origin": origin})
    assert listing.status_code == 200
    assert "Access-Control-Allow-Origin" not in listing.headers


@pytest.mark.parametrize("origin", ["http://localhost:8853", "http://127.0.0.1:8853", "http://[::1]:8853",
                                    "http://localhost:3000", "http://localhost", "http://LOCALHOST:9999"])
def test_rapidfire_frontend_through_its_proxy(client: FlaskClient, seeded: Seeded, origin: str) -> None:
    """RapidFire's frontend server forwards the browser's Origin and its JSON body with a charset."""
    response = client.post("/dispatcher/stop-run", data=json.dumps({"run_id": seeded.ongoing}),
                           headers={"Origin": origin, "Content-Type": "application/json; charset=utf-8"})
    assert response.status_code == 200, response.get_json()
    assert response.headers["Access-Control-Allow-Origin"] == origin


def test_the_pages_own_origin_is_allowed(store: Store, seeded: Seeded) -> None:
    client = create_app(store, allowed_hosts=["ops.internal"]).test_client()
    response = client.post("/dispatcher/stop-run", json={"run_id": seeded.ongoing},
                           headers={"Host": "ops.internal:8081", "Origin": "http://ops.internal:8081"})
    assert response.status_code == 200
    other = client.post("/dispatcher/stop-run", json={"run_id": seeded.stopped},
                        headers={"Host": "ops.internal:8081", "Origin": "http://ops.internal:9999"})
    assert other.status_code == 403


def test_a_cors_origin_may_change_state(store: Store, seeded: Seeded) -> None:
    client = create_app(store, cors_origins=["https://ops.example.org"]).test_client()
    response = client.post("/dispatcher/stop-run", json={"run_id": seeded.ongoing},
                           headers={"Origin": "https://ops.example.org"})
    assert response.status_code == 200


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8081", "localhost.evil.example", "10.0.0.7:8081"])
def test_without_a_token_a_foreign_host_name_is_refused(client: FlaskClient, seeded: Seeded, host: str) -> None:
    for method, route in [("get", "get-all-runs"), ("post", "get-run"), ("post", "stop-run")]:
        response = getattr(client, method)(f"/dispatcher/{route}", json={"run_id": seeded.ongoing},
                                           headers={"Host": host})
        assert response.status_code == 400, route
        assert "--allowed-host" in response.get_json()["error"]
    assert _pending_ops(client) == []


@pytest.mark.parametrize("host", ["localhost:8081", "127.0.0.1:8081", "[::1]:8081", "127.0.0.2", "LOCALHOST"])
def test_loopback_host_names_are_served(client: FlaskClient, seeded: Seeded, host: str) -> None:
    assert client.get("/dispatcher/get-all-runs", headers={"Host": host}).status_code == 200


def test_allowed_and_bound_hosts_are_served(store: Store, seeded: Seeded) -> None:
    client = create_app(store, allowed_hosts=["runs.lab.example"], bind_hosts=["192.168.1.5"]).test_client()
    for host in ("runs.lab.example", "RUNS.lab.example:443", "192.168.1.5:8081"):
        assert client.get("/dispatcher/get-all-runs", headers={"Host": host}).status_code == 200, host
    assert client.get("/dispatcher/get-all-runs", headers={"Host": "other.example"}).status_code == 400


def test_an_ipv6_bound_host_is_served(store: Store, seeded: Seeded) -> None:
    client = create_app(store, bind_hosts=["fd00::7"]).test_client()
    assert client.get("/dispatcher/get-all-runs", headers={"Host": "[fd00::7]:8081"}).status_code == 200
    assert client.get("/dispatcher/get-all-runs", headers={"Host": "[fd00::8]:8081"}).status_code == 400


def test_a_wildcard_bind_does_not_allow_every_name(store: Store, seeded: Seeded) -> None:
    client = create_app(store, bind_hosts=["0.0.0.0"]).test_client()
    assert client.get("/dispatcher/get-all-runs", headers={"Host": "0.0.0.0:8081"}).status_code == 400


def test_with_a_token_the_host_is_not_checked(store: Store, seeded: Seeded) -> None:
    client = create_app(store, token="s3cret").test_client()
    response = client.get("/dispatcher/get-all-runs",
                          headers={"Host": "runs.example.org", "Authorization": "Bearer s3cret"})
    assert response.status_code == 200


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "bEaReR"])
def test_the_bearer_scheme_is_case_insensitive(store: Store, seeded: Seeded, scheme: str) -> None:
    client = create_app(store, token="s3cret").test_client()
    response = client.get("/dispatcher/get-all-runs", headers={"Authorization": f"{scheme} s3cret"})
    assert response.status_code == 200
    assert client.get("/dispatcher/get-all-runs",
                      headers={"Authorization": f"{scheme} S3CRET"}).status_code == 401


def test_a_repeated_refusal_is_logged_once(client: FlaskClient, seeded: Seeded,
                                           caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="rfconsole.dispatcher"):
        for _ in range(40):
            response = client.post("/dispatcher/stop-run", json={"run_id": seeded.ongoing},
                                   headers={"Origin": "http://evil.example"})
            assert response.status_code == 403
    refusals = [r for r in caplog.records if "evil.example" in r.getMessage()]
    assert len(refusals) == 1


# --- real clients over a socket ---------------------------------------------------------


@pytest.fixture
def served(store: Store, seeded: Seeded) -> Iterator[str]:
    server = DispatcherServer(create_app(store), port=0)
    server.start()
    yield f"{server.url}/dispatcher"
    server.stop()


def test_notebook_client_requests_json(served: str, seeded: Seeded, store: Store) -> None:
    """RapidFire's notebook client: `requests.post(url, json=...)`, no Origin."""
    with requests.Session() as http:
        answer = http.post(f"{served}/stop-run", json={"run_id": seeded.ongoing}, timeout=10)
        assert answer.status_code == 200
        assert answer.json()["message"] == "Stop request created successfully"
        clone = http.post(f"{served}/clone-modify-run", timeout=10,
                          json={"run_id": seeded.ongoing, "config": {"learning_rate": 0.3}, "warm_start": False})
        assert clone.status_code == 200


def test_curl_lines_of_the_rapidfire_guide(served: str, seeded: Seeded) -> None:
    """curl -X POST .../stop-run -H "Content-Type: application/json" -d '{"run_id": N}'."""
    with urllib.request.urlopen(f"{served}/health-check", timeout=10) as answer:
        assert json.loads(answer.read()) == "Dispatcher is up and running"
    with urllib.request.urlopen(f"{served}/get-all-runs", timeout=10) as answer:
        assert len(json.loads(answer.read())) == 5
    request = urllib.request.Request(f"{served}/stop-run", data=json.dumps({"run_id": seeded.ongoing}).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert json.loads(answer.read())["message"] == "Stop request created successfully"


def test_pages_outside_the_api_load_without_the_token(store: Store) -> None:
    """A web dashboard served at `/` asks for the token itself; its page must load without it."""
    from flask import Blueprint

    app = create_app(store, token="s3cret")
    web = Blueprint("web_page", __name__)
    web.add_url_rule("/", "index", lambda: "<!doctype html><title>runs</title>")
    app.register_blueprint(web)
    client = app.test_client()
    page = client.get("/")
    assert page.status_code == 200
    assert page.mimetype == "text/html"
    assert client.get("/dispatcher/get-all-runs").status_code == 401
    assert client.get("/", headers={"Host": "evil.example"}).status_code == 200  # with a token, any host
    open_app = create_app(store)
    open_app.register_blueprint(Blueprint("web_page", __name__))
    assert open_app.test_client().get("/", headers={"Host": "evil.example"}).status_code == 400
