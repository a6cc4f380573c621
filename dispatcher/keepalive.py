"""Waitress keeps the connection open after a 304 (and 204) answer.

Waitress 3 closes the connection after every answer without a Content-Length
header, and it drops that header from answers that have no body (1xx, 204,
304) as HTTP requires, so each 304 of an ETag poll came with
`Connection: close` and the next poll had to connect again. An answer without
a body needs no length to be delimited, so `KeepAliveTask` keeps such a
connection open (HTTP/1.1, unless the client asked to close it).

The same channel sends a large body in big blocks, without copies: Waitress
sends a file's reads as they are, so each request's environ says so
(`responses.SENDS_VIEWS`: the body is read as memoryview slices), and the
channel offers up to `SEND_BLOCK_BYTES` to each send() instead of the socket's
initial 16 KB send buffer (a 10 MB listing: a few sends, not 600 round trips
through the loop).

`keep_alive_after_empty_answers(server)` makes a Waitress server use it.
"""

from __future__ import annotations

from typing import Any

from waitress.channel import HTTPChannel
from waitress.server import BaseWSGIServer
from waitress.task import WSGITask

from .responses import SENDS_VIEWS

# The most a channel offers to one send() (the kernel takes what fits).
SEND_BLOCK_BYTES = 4 * 1024 * 1024


class KeepAliveTask(WSGITask):  # type: ignore[misc]
    def build_response_header(self) -> bytes:
        closing = bool(getattr(self, "close_on_finish", False))
        headers: dict[str, str] = getattr(self.request, "headers", {})  # an Error "request" has none
        keep = (not self.has_body and self.version == "1.1" and not closing
                and headers.get("CONNECTION", "").lower() != "close")
        if keep:
            # Waitress adds `Connection: close` only when it has not already decided to close.
            self.close_on_finish = True
        try:
            header: bytes = super().build_response_header()
        finally:
            if keep:
                self.close_on_finish = False
        return header


    def get_environment(self) -> dict[str, Any]:
        environ: dict[str, Any] = super().get_environment()
        environ[SENDS_VIEWS] = True
        return environ


class KeepAliveChannel(HTTPChannel):  # type: ignore[misc]
    task_class = KeepAliveTask

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sendbuf_len = max(self.sendbuf_len, SEND_BLOCK_BYTES)


def keep_alive_after_empty_answers(server: Any) -> None:
    """Make `server` (from waitress.create_server, one socket or several) use KeepAliveChannel."""
    servers = [server, *getattr(server, "map", {}).values()]
    for candidate in servers:
        if isinstance(candidate, BaseWSGIServer):
            candidate.channel_class = KeepAliveChannel
