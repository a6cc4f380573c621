"""Over a real socket, a 304 answer keeps the connection open (Waitress closed it before)."""

from __future__ import annotations

import http.client

from rfconsole.dispatcher import create_app
from rfconsole.dispatcher.server import DispatcherServer


def test_etag_polls_reuse_one_connection(store, seeded):
    server = DispatcherServer(create_app(store), host="127.0.0.1", port=0)
    server.start()
    conn = http.client.HTTPConnection("127.0.0.1", int(server.url.rsplit(":", 1)[1]), timeout=10)
    try:
        conn.request("GET", "/dispatcher/get-all-runs")
        first = conn.getresponse()
        first.read()
        tag = first.getheader("ETag")
        sock = conn.sock
        for _ in range(3):
            conn.request("GET", "/dispatcher/get-all-runs", headers={"If-None-Match": tag})
            answer = conn.getresponse()
            assert answer.read() == b""
            assert answer.status == 304
            assert answer.getheader("Connection") is None
            assert answer.getheader("Content-Length") is None  # no length on a 304 (RFC 9110)
        conn.request("POST", "/dispatcher/get-run", body=b'{"run_id": %d}' % seeded.ongoing,
                     headers={"Content-Type": "application/json"})
        assert conn.getresponse().read()
        assert conn.sock is sock  # the same connection all along
        # A client that asks to close still gets its connection closed after a 304.
        conn.request("GET", "/dispatcher/get-all-runs", headers={"If-None-Match": tag, "Connection": "close"})
        closing = conn.getresponse()
        closing.read()
        assert closing.getheader("Connection") == "close"
    finally:
        conn.close()
        server.stop()
