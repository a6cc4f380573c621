"""DispatcherServer over a real socket: start, url, CORS preflight, clean stop, refusals."""

from __future__ import annotations

import http.client
import json
import logging
import socket
import threading
import time
from collections.abc import Callable

import pytest
from rfconsole.db import Store
from rfconsole.dispatcher import create_app
from rfconsole.dispatcher.server import DispatcherServer, ServerStartError

from .conftest import Seeded


def _request(url: str, method: str, path: str, body: bytes | None = None,
             headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.headers), response.read()
    finally:
        conn.close()


def _port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        # As any server would: connections the server closed may linger in TIME_WAIT.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def test_real_server_serves_preflight_and_stops_cleanly(store: Store, seeded: Seeded) -> None:
    threads_before = set(threading.enumerate())
    server = DispatcherServer(create_app(store), host="127.0.0.1", port=0)
    server.start()
    port = int(server.url.rsplit(":", 1)[1])
    assert server.url == f"http://127.0.0.1:{port}"
    assert port != 0
    status, headers, _ = _request(server.url, "OPTIONS", "/dispatcher/stop-run", headers={
        "Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"})
    assert status == 204
    assert headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
    status, headers, body = _request(server.url, "GET", "/dispatcher/get-all-runs",
                                     headers={"Origin": "http://localhost:3000"})
    assert status == 200
    assert len(json.loads(body)) == 5
    assert headers["Access-Control-Allow-Origin"] == "http://localhost:3000"

    # A keep-alive connection left open must be closed by stop().
    idle = socket.create_connection(("127.0.0.1", port), timeout=10)
    idle.sendall(b"GET /dispatcher/health-check HTTP/1.1\r\nHost: x\r\n\r\n")
    answer = b""
    while not answer.endswith(b'running"'):
        answer += idle.recv(4096)
    assert b"200 OK" in answer
    server.stop()
    idle.settimeout(5)
    assert idle.recv(4096) == b""  # closed by the server, not by us
    idle.close()

    assert _port_is_free(port)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    deadline = time.monotonic() + 5
    while set(threading.enumerate()) - threads_before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert set(threading.enumerate()) - threads_before == set()
    server.stop()  # a second stop is harmless


def test_stop_with_a_request_in_flight(store: Store, seeded: Seeded) -> None:
    """stop() returns and leaves no thread even while a client is mid-request."""
    threads_before = set(threading.enumerate())
    server = DispatcherServer(create_app(store), port=0)
    server.start()
    port = int(server.url.rsplit(":", 1)[1])
    half = socket.create_connection(("127.0.0.1", port), timeout=10)
    half.sendall(b"POST /dispatcher/get-run HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
    # Wait until the server has read the partial request (a Waitress channel then holds it):
    # closing a socket with unread data would reset the connection instead of closing it.
    _wait_for(lambda: any(getattr(channel, "request", None) is not None
                          for channel in list(server._server._map.values())),
              "the server to read the partial request")
    server.stop()
    half.settimeout(5)
    assert half.recv(4096) == b""
    half.close()
    deadline = time.monotonic() + 5
    while set(threading.enumerate()) - threads_before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert set(threading.enumerate()) - threads_before == set()


def test_port_in_use_is_a_one_sentence_error(store: Store) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        threads_before = set(threading.enumerate())
        server = DispatcherServer(create_app(store), port=port)
        with pytest.raises(ServerStartError) as caught:
            server.start()
        assert caught.value.message == (
            f"Port {port} on 127.0.0.1 is already in use; stop the other server or pick "
            f"another port with --port.")
        deadline = time.monotonic() + 5
        while set(threading.enumerate()) - threads_before and time.monotonic() < deadline:
            time.sleep(0.05)
        assert set(threading.enumerate()) - threads_before == set()


def test_unknown_host_is_a_one_sentence_error(store: Store) -> None:
    server = DispatcherServer(create_app(store), host="no-such-host.invalid", port=0)
    with pytest.raises(ServerStartError, match="no-such-host.invalid"):
        server.start()


@pytest.mark.parametrize("port", [65536, 70000, -1])
def test_port_out_of_range_is_refused_not_wrapped(store: Store, port: int) -> None:
    server = DispatcherServer(create_app(store), port=port)
    with pytest.raises(ServerStartError) as caught:
        server.start()
    assert caught.value.message == (
        f"Cannot serve on port {port}; pick a port from 0 to 65535 (0: any free one).")
    assert not server.running


def test_invalid_host_message_is_one_sentence(store: Store) -> None:
    server = DispatcherServer(create_app(store), host="bad host!", port=0)
    with pytest.raises(ServerStartError) as caught:
        server.start()
    assert caught.value.message.startswith("Cannot serve on bad host!:0: ")
    assert ".." not in caught.value.message
    assert caught.value.message.endswith("; check --host.")


def test_context_manager(store: Store) -> None:
    with DispatcherServer(create_app(store), port=0) as server:
        status, _, body = _request(server.url, "GET", "/dispatcher/health-check")
        assert status == 200
        assert json.loads(body) == "Dispatcher is up and running"
    assert not server.running


def test_chunked_body_over_1_mib_is_413_json(store: Store, seeded: Seeded) -> None:
    with DispatcherServer(create_app(store), port=0) as server:
        host, port = server.url.removeprefix("http://").rsplit(":", 1)
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        chunks = (b'{"run_id": 1, "pad": "' if i == 0 else b"x" * 65536 for i in range(40))
        conn.request("POST", "/dispatcher/get-run", body=chunks, encode_chunked=True,
                     headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"})
        response = conn.getresponse()
        body = json.loads(response.read())
        conn.close()
    assert response.status == 413
    assert "1 MiB" in body["error"]


def test_stop_under_load_logs_no_error(store: Store, seeded: Seeded,
                                       caplog: pytest.LogCaptureFixture,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Workers finishing requests during stop() must not touch closed sockets or pipes."""
    from rfconsole.dispatcher import routes_runs

    real_fetch = routes_runs.fetch_run
    busy = threading.Semaphore(0)  # released once per request that reached the app

    def slow_fetch(conn, run_id):  # keeps every worker busy while stop() runs
        busy.release()
        time.sleep(0.2)  # the work of a slow request, not a wait for something
        return real_fetch(conn, run_id)

    monkeypatch.setattr(routes_runs, "fetch_run", slow_fetch)
    server = DispatcherServer(create_app(store), port=0)
    server.start()
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    halt = threading.Event()

    def hammer() -> None:
        while not halt.is_set():
            conn = http.client.HTTPConnection(host, int(port), timeout=5)
            try:
                conn.request("POST", "/dispatcher/get-run", body=b'{"run_id": 1}')
                conn.getresponse().read()
            except (OSError, http.client.HTTPException):
                pass  # the server went away under us, as intended
            finally:
                conn.close()

    clients = [threading.Thread(target=hammer) for _ in range(4)]
    for thread in clients:
        thread.start()
    for _ in range(len(clients)):  # every client has a request in a worker
        assert busy.acquire(timeout=30), "the requests never reached the app"
    server.stop()
    halt.set()
    for thread in clients:
        thread.join(10)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []
