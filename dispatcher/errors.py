"""Every failure becomes `{"error": "<one sentence>"}` JSON with the right status.

Views raise `ApiError` (or let the data layer's `StoreError` through); this
module is the one place that turns those, Werkzeug's HTTP errors, a database
that is read-only or locked (503), and anything unexpected into a response.
Never HTML, never a traceback in a body (the traceback goes to the log), and
never SQL or a database URL: a driver's message can hold both.
"""

from __future__ import annotations

import logging

import orjson
from flask import Flask, Response, current_app, request
from rfconsole.db.errors import DatabaseBusy, DatabaseReadOnly, StoreError
from werkzeug.exceptions import HTTPException

from .refusals import RefusalThrottle, repeats_note

logger = logging.getLogger("rfconsole.dispatcher")

JSON_MIMETYPE = "application/json"
# Seconds a client should wait before retrying when the database is locked by another writer.
RETRY_AFTER_SECONDS = 5

READ_ONLY_MESSAGE = ("The database is read-only for this server (its file, folder or server refuses writes); "
                     "nothing was changed.")
BUSY_MESSAGE = ("The database is busy with another writer past the wait limit; nothing was changed, "
                "try again shortly.")


class ApiError(Exception):
    """A refusal with its HTTP status and the sentence the client sees."""

    def __init__(self, status: int, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = retry_after  # seconds, sent as Retry-After when set


def error_response(status: int, message: str) -> Response:
    return Response(orjson.dumps({"error": message}), status=status, mimetype=JSON_MIMETYPE)


def _http_message(exc: HTTPException) -> str:
    code = exc.code or 500
    if code == 404:
        return f"There is no route {request.path}; see /dispatcher/openapi.json for the routes."
    if code == 405:
        allowed = sorted(m for m in (exc.valid_methods or []) if m not in ("HEAD", "OPTIONS"))  # type: ignore[attr-defined]
        use = " or ".join(allowed) if allowed else "another method"
        return f"{request.path} does not accept {request.method}; use {use}."
    if code == 413:
        limit = _size_text(current_app.config.get("MAX_CONTENT_LENGTH"))
        return f"The request body is larger than {limit}; send a smaller body."
    if code == 400:
        return "The request is malformed; send a JSON body as the API describes."
    return f"The request failed: {exc.name}."


def _size_text(size: int | None) -> str:
    """1048576 -> "1 MiB", 2048 -> "2 KiB", 1000 -> "1000 bytes" (None: the server's limit)."""
    if not size:
        return "the server's limit"
    for unit, factor in (("MiB", 1024 * 1024), ("KiB", 1024)):
        if size % factor == 0:
            return f"{size // factor} {unit}"
    return f"{size} bytes"


# Driver messages (lower case) that tell why a database refused: SQLite's, then PostgreSQL's.
_DRIVER_SIGNS = {
    "read-only": ("attempt to write a readonly database", "read-only transaction", "readonly database"),
    "busy": ("database is locked", "database table is locked", "lock timeout", "could not obtain lock"),
}


def database_problem(exc: BaseException) -> str | None:
    """Why the database refused ("read-only" or "busy"), or None; told apart in this one place.

    The data layer raises typed errors for these; a driver error that escapes it
    (the dispatcher imports no database driver) is recognised by class name and message.
    """
    if isinstance(exc, DatabaseReadOnly):
        return "read-only"
    if isinstance(exc, DatabaseBusy):
        return "busy"
    if type(exc).__name__ != "OperationalError":
        return None
    text = str(getattr(exc, "orig", None) or exc).lower()
    for problem, signs in _DRIVER_SIGNS.items():
        if any(sign in text for sign in signs):
            return problem
    return None


def database_refusal(exc: BaseException) -> Response | None:
    """The 503 answer (with Retry-After when waiting helps) for a database that refused, else None."""
    problem = database_problem(exc)
    if problem == "read-only":
        return error_response(503, READ_ONLY_MESSAGE)
    if problem == "busy":
        response = error_response(503, BUSY_MESSAGE)
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
    return None


def redirect_as_json(response: Response) -> Response:
    """Werkzeug's redirects (e.g. `/dispatcher//health-check`) carry an HTML body: make it JSON."""
    if 300 <= response.status_code < 400 and response.mimetype == "text/html":
        location = response.headers.get("Location", "")
        response.set_data(orjson.dumps({"message": f"This route is at {location}.", "location": location}))
        response.mimetype = JSON_MIMETYPE
    return response


def register_error_handlers(app: Flask) -> None:
    throttle = RefusalThrottle()  # a database that stays read-only or busy: one line per 10 s

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> Response:
        response = error_response(exc.status, exc.message)
        if exc.retry_after is not None:
            response.headers["Retry-After"] = str(exc.retry_after)
        return response

    def _refused(exc: BaseException, refusal: Response) -> Response:
        left_out = throttle.admit(("database", database_problem(exc)))
        if left_out is not None:  # not the driver's text: it may hold SQL and values
            logger.warning("Database refused %s %s: %s%s", request.method, request.path,
                           refusal.get_json()["error"], repeats_note(left_out))
        return refusal

    @app.errorhandler(StoreError)
    def _store_error(exc: StoreError) -> Response:
        refusal = database_refusal(exc)
        if refusal is not None:
            return _refused(exc, refusal)
        if exc.status >= 500:
            logger.error("Data layer error on %s %s: %s", request.method, request.path, exc.message)
        return error_response(exc.status, exc.message)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        response = error_response(exc.code or 500, _http_message(exc))
        if exc.code == 405:
            valid = getattr(exc, "valid_methods", None) or []
            response.headers["Allow"] = ", ".join(sorted(valid))
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        refusal = database_refusal(exc)
        if refusal is not None:
            return _refused(exc, refusal)
        logger.exception("Unexpected error on %s %s", request.method, request.path)
        return error_response(500, "The dispatcher hit an internal error; the details are in its log.")

    app.after_request(redirect_as_json)


class ServerStartError(Exception):
    """The dispatcher cannot start (port in use, unsafe bind, bad address); one sentence."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
