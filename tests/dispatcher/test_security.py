"""Token auth, CORS headers and preflight, and the safe-bind rule."""

from __future__ import annotations

import pytest
from rfconsole.db import Store
from rfconsole.dispatcher import create_app
from rfconsole.dispatcher.security import check_bind, is_loopback
from rfconsole.dispatcher.server import ServerStartError

from .conftest import Seeded


def test_token_required_everywhere_but_health(store: Store, seeded: Seeded) -> None:
    client = create_app(store, token="s3cret").test_client()
    assert client.get("/dispatcher/health-check").status_code == 200
    for method, route in [("get", "get-all-runs"), ("post", "stop-run"), ("get", "openapi.json"),
                          ("post", "get-ic-logs"), ("get", "no-such-route")]:
        response = getattr(client, method)(f"/dispatcher/{route}", json={"run_id": seeded.ongoing})
        assert response.status_code == 401, route
        assert "Authorization: Bearer" in response.get_json()["error"]
        assert response.headers["WWW-Authenticate"] == "Bearer"
    wrong = client.get("/dispatcher/get-all-runs", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    good = {"Authorization": "Bearer s3cret"}
    assert client.get("/dispatcher/get-all-runs", headers=good).status_code == 200
    stop = client.post("/dispatcher/stop-run", json={"run_id": seeded.ongoing}, headers=good)
    assert stop.status_code == 200


def test_no_token_means_open(store: Store, seeded: Seeded) -> None:
    client = create_app(store, token=None).test_client()
    assert client.get("/dispatcher/get-all-runs").status_code == 200


@pytest.mark.parametrize("origin", ["http://localhost:3000", "http://localhost", "http://127.0.0.1:3000",
                                    "https://ops.example.org"])
def test_cors_allowed_origins(store: Store, seeded: Seeded, origin: str) -> None:
    client = create_app(store, cors_origins=["https://ops.example.org/"]).test_client()
    response = client.get("/dispatcher/get-all-runs", headers={"Origin": origin})
    assert response.headers["Access-Control-Allow-Origin"] == origin
    assert "X-Total-Count" in response.headers["Access-Control-Expose-Headers"]
    assert "Origin" in response.headers["Vary"]


def test_cors_other_origin_gets_no_grant(store: Store, seeded: Seeded) -> None:
    client = create_app(store).test_client()
    response = client.get("/dispatcher/get-all-runs", headers={"Origin": "http://evil.example"})
    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response.headers
    preflight = client.options("/dispatcher/stop-run", headers={
        "Origin": "http://evil.example", "Access-Control-Request-Method": "POST"})
    assert "Access-Control-Allow-Origin" not in preflight.headers


def test_preflight_is_answered_without_token(store: Store) -> None:
    client = create_app(store, token="s3cret").test_client()
    response = client.options("/dispatcher/stop-run", headers={
        "Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type, authorization"})
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    allowed = response.headers["Access-Control-Allow-Headers"].lower()
    assert "authorization" in allowed
    assert "content-type" in allowed
    # An error answer carries the CORS grant too, so the browser can show its sentence.
    denied = client.get("/dispatcher/get-all-runs", headers={"Origin": "http://localhost:3000"})
    assert denied.status_code == 401
    assert denied.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("localhost", True), ("::1", True), ("127.8.9.10", True),
    ("0.0.0.0", False), ("::", False), ("192.168.1.5", False), ("myhost.example", False),
])
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_check_bind() -> None:
    check_bind("127.0.0.1", None, False)
    check_bind("0.0.0.0", "token", False)
    check_bind("0.0.0.0", None, True)
    with pytest.raises(ServerStartError, match="without a token"):
        check_bind("0.0.0.0", None, False)
