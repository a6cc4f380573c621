"""Who may call the API: the bearer token, CORS (with preflight), and the safe-bind rule.

With a token, every route but health-check, get-server-info, the web page's files and
CORS preflight needs `Authorization: Bearer <token>`. CORS allows RapidFire's development origins
(`http://localhost:3000`, `http://localhost`), their 127.0.0.1 twins and any
`--cors-origin`; the same-origin production setup needs none.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Iterable

from flask import Flask, Response, request

from .errors import ServerStartError, error_response
from .web import OPEN_ENDPOINTS as WEB_PAGE

DEFAULT_ORIGINS = (
    "http://localhost:3000",
    "http://localhost",
    "http://127.0.0.1:3000",
    "http://127.0.0.1",
)
OPEN_ENDPOINTS = frozenset({"meta.health_check", "meta.get_server_info"}) | WEB_PAGE
ALLOWED_HEADERS = "Content-Type, Authorization, If-None-Match"
EXPOSED_HEADERS = "ETag, X-Total-Count"


def is_loopback(host: str) -> bool:
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name we cannot vouch for counts as reachable from outside


def check_bind(host: str, token: str | None, insecure: bool) -> None:
    """Refuse to serve a non-loopback address without a token, unless told `insecure`."""
    if is_loopback(host) or token or insecure:
        return
    raise ServerStartError(
        f"Refusing to serve on {host} without a token, since anyone who can reach it could "
        f"stop or delete runs; set --token (or RFCONSOLE_TOKEN), bind 127.0.0.1, or pass --insecure."
    )


def install(app: Flask, *, token: str | None, cors_origins: Iterable[str]) -> None:
    """Add the token check and the CORS headers to `app`."""
    allowed = frozenset(DEFAULT_ORIGINS) | {o.strip().rstrip("/") for o in cors_origins if o.strip()}
    any_origin = "*" in allowed
    expected = f"Bearer {token}".encode() if token else None

    def origin_allowed(origin: str | None) -> bool:
        return origin is not None and (any_origin or origin in allowed)

    @app.before_request
    def _gate() -> Response | None:
        if request.method == "OPTIONS" and request.url_rule is not None:
            if "Access-Control-Request-Method" in request.headers:
                return _preflight(origin_allowed(request.headers.get("Origin")))
            return None
        if expected is not None and request.endpoint not in OPEN_ENDPOINTS:
            given = request.headers.get("Authorization", "").encode()
            if not hmac.compare_digest(given, expected):
                response = error_response(
                    401, "This dispatcher needs 'Authorization: Bearer <token>' with its token."
                )
                response.headers["WWW-Authenticate"] = "Bearer"
                return response
        return None

    @app.after_request
    def _cors(response: Response) -> Response:
        origin = request.headers.get("Origin")
        if origin_allowed(origin):
            response.headers["Access-Control-Allow-Origin"] = origin  # type: ignore[assignment]
            response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
            response.vary.add("Origin")
        return response


def _preflight(allowed: bool) -> Response:
    response = Response(status=204)
    if allowed:
        # The after_request hook adds Allow-Origin; these are preflight-only.
        response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
        response.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
        response.headers["Access-Control-Max-Age"] = "600"
    return response
