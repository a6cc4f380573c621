"""JSON responses encoded with orjson (fast, and NaN becomes null).

A large body (the run listing: ~10 MB at 10,000 runs) comes as bytes or as a
tuple of pieces (the listing's joined segments, see splice.py) and is handed
to the server as a file (`wsgi.file_wrapper` over a `PiecesReader`), so that
Waitress sends it from the cached objects in blocks instead of copying it
whole into each connection's output buffer: those copies, one per worker
thread, kept ~130 MB of freed memory in the allocator's arenas.

A read returns a whole piece when it can (no copy). Under `rfconsole serve`
(our Waitress channel marks the request with `SENDS_VIEWS`) any other read
is a memoryview slice, which Waitress passes straight to socket.send, so the
body is never copied in Python; other servers (gunicorn) require bytes and get
a copied slice only where a read ends inside a piece.
"""

from __future__ import annotations

import bisect
import io
import itertools
from typing import Any, Literal

import orjson
from flask import Response, request
from werkzeug.wsgi import wrap_file

from .errors import JSON_MIMETYPE

# Bodies from this size on are sent as a file.
FILE_BODY_BYTES = 256 * 1024
# The most a server that iterates over the file (gunicorn) reads at once: a whole segment.
READ_BYTES = 4 * 1024 * 1024
# The WSGI environ key of a server whose file sending takes any bytes-like object.
SENDS_VIEWS = "rfconsole.sends_views"


Body = bytes | tuple[bytes, ...]


def body_length(body: Body) -> int:
    return len(body) if isinstance(body, bytes) else sum(len(piece) for piece in body)


class PiecesReader:
    """A read-only, seekable file over pieces of bytes; `views`: reads inside a piece are
    memoryview slices instead of copies."""

    def __init__(self, pieces: tuple[bytes, ...], *, views: bool) -> None:
        self._pieces = [piece for piece in pieces if piece]
        self._starts = list(itertools.accumulate((len(piece) for piece in self._pieces), initial=0))
        self._length = self._starts[-1]
        self._views = views
        self._position = 0

    def seekable(self) -> Literal[True]:
        return True

    def readable(self) -> Literal[True]:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._length}[whence]
        self._position = min(max(0, base + offset), self._length)
        return self._position

    def read(self, size: int | None = -1) -> bytes | memoryview:
        """Up to `size` bytes from the current piece (all of it when `size` is negative)."""
        if size is None or size < 0:
            size = self._length
        if self._position >= self._length or size == 0:
            return b""
        number = bisect.bisect_right(self._starts, self._position) - 1
        piece = self._pieces[number]
        offset = self._position - self._starts[number]
        end = min(len(piece), offset + size)
        self._position += end - offset
        if offset == 0 and end == len(piece):
            return piece
        return memoryview(piece)[offset:end] if self._views else piece[offset:end]

    def close(self) -> None:
        self._position = self._length


def json_response(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status=status, mimetype=JSON_MIMETYPE)


def raw_json_response(body: Body, status: int = 200) -> Response:
    length = body_length(body)
    if length < FILE_BODY_BYTES:
        return Response(body if isinstance(body, bytes) else b"".join(body), status=status,
                        mimetype=JSON_MIMETYPE)
    environ = request.environ
    reader = PiecesReader((body,) if isinstance(body, bytes) else body, views=bool(environ.get(SENDS_VIEWS)))
    sent = wrap_file(environ, reader, buffer_size=READ_BYTES)  # type: ignore[arg-type]
    response = Response(sent, status=status, mimetype=JSON_MIMETYPE, direct_passthrough=True)
    response.content_length = length
    return response
