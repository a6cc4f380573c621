"""JSON responses encoded with orjson (fast, and NaN becomes null).

A large cached body (the run listing: ~10 MB at 10,000 runs) is handed to the
server as a file (`wsgi.file_wrapper` over a BytesIO that shares the bytes
object), so that Waitress sends it from the cached object in blocks instead of
copying it whole into each connection's output buffer: those copies, one per
worker thread, kept ~130 MB of freed memory in the allocator's arenas.
"""

from __future__ import annotations

import io
from typing import Any

import orjson
from flask import Response, request
from werkzeug.wsgi import wrap_file

from .errors import JSON_MIMETYPE

# Bodies from this size on are sent as a file.
FILE_BODY_BYTES = 256 * 1024


def json_response(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status=status, mimetype=JSON_MIMETYPE)


def raw_json_response(body: bytes, status: int = 200) -> Response:
    if len(body) < FILE_BODY_BYTES:
        return Response(body, status=status, mimetype=JSON_MIMETYPE)
    sent = wrap_file(request.environ, io.BytesIO(body), buffer_size=FILE_BODY_BYTES)
    response = Response(sent, status=status, mimetype=JSON_MIMETYPE, direct_passthrough=True)
    response.content_length = len(body)
    return response
