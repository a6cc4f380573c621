"""JSON responses encoded with orjson (fast, and NaN becomes null)."""

from __future__ import annotations

from typing import Any

import orjson
from flask import Response

from .errors import JSON_MIMETYPE


def json_response(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status=status, mimetype=JSON_MIMETYPE)


def raw_json_response(body: bytes, status: int = 200) -> Response:
    return Response(body, status=status, mimetype=JSON_MIMETYPE)
