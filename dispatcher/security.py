"""Who may call the API: the Host check, the Origin check, the bearer token, CORS, the safe-bind rule.

Every request to the dispatcher passes, in this order:

1. Without a token, the `Host` header must name a loopback address, a bound
   host or an allowed host (`--allowed-host`), else 400: a web page whose
   name was re-pointed at 127.0.0.1 (DNS rebinding) is not served.
2. With a token, every API route (under `/dispatcher`) but health-check and
   CORS preflight needs `Authorization: Bearer <token>` (the scheme in any
   case), else 401; get-server-info too, which the web dashboard reads to learn
   whether to ask for the token. Pages served outside the API (the web
   dashboard at `/`) load without it: they hold no data, and ask for the token
   to call the API.
3. On every route but GET/HEAD, an `Origin` header that is present and not
   allowed is refused with 403: another site cannot make a browser change
   state. Allowed: the page's own origin, any loopback origin
   (`http://localhost:*`, `http://127.0.0.1:*`, `http://[::1]:*`; RapidFire's
   frontend server proxies `/dispatcher` and forwards the browser's Origin)
   and every `--cors-origin`.

CORS headers (and preflight answers) come from flask-cors, for the loopback
origins and every `--cors-origin`.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import re
from collections.abc import Iterable
from typing import Any

from flask import Flask, Response, request
from flask_cors import CORS

from .errors import ServerStartError, error_response
from .refusals import RefusalThrottle, repeats_note

logger = logging.getLogger("rfconsole.dispatcher")

# Any port, http or https, on the three loopback names (\Z: nothing may follow).
LOOPBACK_ORIGIN = re.compile(r"https?://(localhost|127\.0\.0\.1|\[::1\])(:[0-9]{1,5})?\Z", re.IGNORECASE)
OPEN_ENDPOINTS = frozenset({"meta.health_check", "meta.get_server_info"})
API_PREFIX = "/dispatcher"
HOST_ANSWERS_KEPT = 256
SAFE_METHODS = frozenset({"GET", "HEAD"})
ALLOWED_HEADERS = ["Content-Type", "Authorization", "If-None-Match"]
EXPOSED_HEADERS = ["ETag", "X-Total-Count"]


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


def host_name(host_header: str) -> str:
    """The name in a Host header, lower case: "LocalHost:8081" -> "localhost", "[::1]:80" -> "::1"."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host[1:]
    name, colon, port = host.rpartition(":")
    return name if colon and port.isdigit() else host


def _bearer_token(header: str) -> bytes:
    """The credentials of an `Authorization: Bearer <token>` header; the scheme is case-insensitive."""
    scheme, _, credentials = header.strip().partition(" ")
    return credentials.strip().encode() if scheme.lower() == "bearer" else b""


class Gate:
    """The Host, token and Origin checks of one app (see the module docstring)."""

    def __init__(self, *, token: str | None, cors_origins: Iterable[str], allowed_hosts: Iterable[str],
                 bind_hosts: Iterable[str]) -> None:
        self.token = token.encode() if token else None
        origins = {origin.lower() for origin in cors_origins}
        self.any_origin = "*" in origins
        self.origins = frozenset(origins - {"*"})
        hosts = {_configured_host(host) for host in allowed_hosts}
        hosts.update(_configured_host(host) for host in bind_hosts if not _is_wildcard(host))
        self.any_host = "*" in hosts
        self.hosts = frozenset(hosts - {"*"})
        self.throttle = RefusalThrottle()
        self._host_answers: dict[str, bool] = {}

    def origin_allowed(self, origin: str, host: str) -> bool:
        lowered = origin.strip().lower().rstrip("/")
        if self.any_origin or lowered in self.origins or LOOPBACK_ORIGIN.match(lowered):
            return True
        # The page's own origin: the same host and port as this request (the scheme may be
        # rewritten by a TLS-terminating proxy in front of us).
        _, sep, netloc = lowered.partition("://")
        return bool(sep) and netloc == host.lower()

    def host_allowed(self, host: str) -> bool:
        known = self._host_answers.get(host)
        if known is None:  # a client sends the same Host every time: decide once per value
            name = _configured_host(host_name(host))
            known = self.any_host or is_loopback(name) or name in self.hosts
            if len(self._host_answers) >= HOST_ANSWERS_KEPT:
                self._host_answers.clear()
            self._host_answers[host] = known
        return known

    def check(self) -> Response | None:
        """None to go on, else the refusal to answer with (read from the WSGI environ: every
        request passes here, so it stays cheap)."""
        if request.endpoint in OPEN_ENDPOINTS:
            return None
        environ = request.environ
        method = environ.get("REQUEST_METHOD", "GET")
        host = environ.get("HTTP_HOST") or request.host
        if self.token is None and not self.host_allowed(host):
            return self._refuse(400, "host", f"This dispatcher does not serve the host name {host[:80]!r}; "
                                             "reach it as localhost, or start it with --allowed-host NAME.")
        if (method == "OPTIONS" and "HTTP_ACCESS_CONTROL_REQUEST_METHOD" in environ
                and request.url_rule is not None):
            return None  # a CORS preflight: answered (by flask-cors) without the token
        if self.token is not None and _in_api(request.path):
            given = _bearer_token(environ.get("HTTP_AUTHORIZATION", ""))
            if not hmac.compare_digest(given, self.token):
                response = self._refuse(401, "token",
                                        "This dispatcher needs 'Authorization: Bearer <token>' with its token.")
                response.headers["WWW-Authenticate"] = "Bearer"
                return response
        origin = environ.get("HTTP_ORIGIN")
        if origin is not None and method not in SAFE_METHODS and not self.origin_allowed(origin, host):
            return self._refuse(403, "origin", f"Requests from the web page at {origin[:80]!r} may not change "
                                               "anything here; add its origin with --cors-origin if it is yours.")
        return None

    def _refuse(self, status: int, reason: str, message: str) -> Response:
        left_out = self.throttle.admit((reason, request.remote_addr))
        if left_out is not None:
            logger.warning("Refused %s %s from %s: %s%s", request.method, request.path,
                           request.remote_addr or "unknown", message, repeats_note(left_out))
        return error_response(status, message)


def _configured_host(host: str) -> str:
    """A host as given to --allowed-host or --host: "fe80::1" stays whole, "Name:8081" -> "name"."""
    stripped = host.strip().lower()
    try:
        return str(ipaddress.ip_address(stripped.strip("[]")))
    except ValueError:
        return host_name(stripped)


def _in_api(path: str) -> bool:
    return path == API_PREFIX or path.startswith(API_PREFIX + "/")


def _is_wildcard(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_unspecified
    except ValueError:
        return False


def install(app: Flask, settings: dict[str, Any]) -> Gate:
    """Add the checks and the CORS headers to `app` (from its settings; see config.py)."""
    gate = Gate(token=settings["TOKEN"], cors_origins=settings["CORS_ORIGINS"],
                allowed_hosts=settings["ALLOWED_HOSTS"], bind_hosts=settings["BIND_HOSTS"])

    @app.before_request
    def _gate() -> Response | None:
        return gate.check()

    origins: Any = "*" if gate.any_origin else [LOOPBACK_ORIGIN, *sorted(gate.origins)]
    CORS(app, resources={r"/dispatcher/*": {}}, origins=origins, methods=["GET", "POST", "OPTIONS"],
         allow_headers=ALLOWED_HEADERS, expose_headers=EXPOSED_HEADERS, max_age=600, vary_header=True)
    # flask-cors adds nothing to an answer for a request without Origin (curl, the notebook
    # client, the console): skip its hook for those, which are most of the polling.
    cors_hook: Any = app.after_request_funcs[None].pop()

    @app.after_request
    def _cors(response: Response) -> Response:
        environ = request.environ
        if "HTTP_ORIGIN" not in environ:
            return response
        if environ.get("REQUEST_METHOD") == "OPTIONS" and response.status_code == 200 and not response.get_data():
            response.status_code = 204  # a preflight answer has no content
        granted: Response = cors_hook(response)
        return granted

    return gate
