"""Every failure becomes `{"error": "<one sentence>"}` JSON with the right status.

Views raise `ApiError` (or let the data layer's `StoreError` through); this
module is the one place that turns those, Werkzeug's HTTP errors and anything
unexpected into a response. Never HTML, never a traceback in a body: the
traceback goes to the log.
"""

from __future__ import annotations

import logging

import orjson
from flask import Flask, Response, current_app, request
from rfconsole.db.errors import StoreError
from werkzeug.exceptions import HTTPException

logger = logging.getLogger("rfconsole.dispatcher")

JSON_MIMETYPE = "application/json"


class ApiError(Exception):
    """A refusal with its HTTP status and the sentence the client sees."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


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


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> Response:
        return error_response(exc.status, exc.message)

    @app.errorhandler(StoreError)
    def _store_error(exc: StoreError) -> Response:
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
        logger.exception("Unexpected error on %s %s", request.method, request.path)
        return error_response(500, "The dispatcher hit an internal error; the details are in its log.")


class ServerStartError(Exception):
    """The dispatcher cannot start (port in use, unsafe bind, bad address); one sentence."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
