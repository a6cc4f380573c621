"""Over a real socket: a 304 keeps the connection open (Waitress closed it before), a large body
is sent whole from the cached bytes."""

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


def test_a_large_listing_is_sent_whole_as_a_file(store, seeded, monkeypatch):
    monkeypatch.setattr("rfconsole.dispatcher.responses.FILE_BODY_BYTES", 64)
    app = create_app(store)
    expected = app.test_client().get("/dispatcher/get-all-runs").data
    assert len(expected) > 64
    server = DispatcherServer(app, host="127.0.0.1", port=0)
    server.start()
    conn = http.client.HTTPConnection("127.0.0.1", int(server.url.rsplit(":", 1)[1]), timeout=10)
    try:
        for _ in range(2):  # twice on one connection: the length delimits the body
            conn.request("GET", "/dispatcher/get-all-runs")
            answer = conn.getresponse()
            assert answer.getheader("Content-Length") == str(len(expected))
            assert answer.read() == expected
    finally:
        conn.close()
        server.stop()
