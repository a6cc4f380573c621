"""`DispatcherServer`: the app served by Waitress in a daemon thread.

    server = DispatcherServer(app, host="127.0.0.1", port=0)
    server.start()          # raises ServerStartError (one sentence) if it cannot bind
    server.url              # "http://127.0.0.1:54321"
    server.stop()           # closes open connections, joins every thread it started

Waitress has no public shutdown call, so `stop()` asks the server's own loop
thread (through Waitress's trigger) to close the listening socket and every
open connection; the loop then ends by itself, and the worker threads are told
to stop and joined.

Connections (Waitress's defaults would make the server deaf for minutes once
100 idle connections are open: it stops accepting at `connection_limit` and
drops idle ones only after `channel_timeout` 120 s, checked every 30 s):

- `connection_limit` 1000 (or fewer when the process may open fewer files): an
  idle connection costs a socket and a small object in the loop, no thread, so
  a browser tab's keep-alive pool, a few dashboards and a port scan fit;
- `channel_timeout` 30 s, checked every 5 s: a connection that sends nothing
  for 30 s is closed, so even a flood of idle sockets frees itself quickly;
- `asyncore_use_poll`: select() cannot watch descriptors past 1024;
- 8 worker threads: requests are short (a listing of 10,000 runs takes ~0.1 s),
  so 8 answer a few polling clients while a slow one is being served.
"""

from __future__ import annotations

import errno
import logging
import resource
import socket
import threading
from typing import Any

from waitress import wasyncore
from waitress.server import create_server
from waitress.task import ThreadedTaskDispatcher

from .errors import ServerStartError

__all__ = ["DispatcherServer", "ServerStartError"]

logger = logging.getLogger("rfconsole.dispatcher")
JOIN_SECONDS = 10  # whole seconds: waitress.task.ThreadedTaskDispatcher.shutdown takes an int
OUTBUF_IN_MEMORY_BYTES = 64 * 1024 * 1024
CONNECTION_LIMIT = 1000
CHANNEL_TIMEOUT_SECONDS = 30
CLEANUP_INTERVAL_SECONDS = 5
THREADS = 8
# Descriptors kept free for the database, log files and the wake-up pipe.
SPARE_FILES = 64


def connection_limit() -> int:
    """CONNECTION_LIMIT, or fewer when the process may not open that many files."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return CONNECTION_LIMIT
    return max(16, min(CONNECTION_LIMIT, soft - SPARE_FILES))


class _Workers(ThreadedTaskDispatcher):
    """Waitress's worker pool, with named threads we can join on stop."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self._name = name
        self.started: list[threading.Thread] = []

    def start_new_thread(self, target: Any, thread_no: int) -> None:
        thread = threading.Thread(target=target, name=f"{self._name}-worker-{thread_no}",
                                  args=(thread_no,), daemon=True)
        self.started.append(thread)
        thread.start()


class DispatcherServer:
    """Serve a WSGI app with Waitress in a background thread; port 0 picks a free port."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 8081, *,
                 threads: int = THREADS, name: str = "rfconsole-dispatcher") -> None:
        self.app = app
        self.host = host
        self.port = port
        self.threads = threads
        self.name = name
        self._server: Any = None
        self._workers: _Workers | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = self._server.effective_host if self._server is not None else self.host
        port = self._server.effective_port if self._server is not None else self.port
        if ":" in str(host):
            host = f"[{host}]"
        return f"http://{host}:{port}"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self._thread is not None:
            raise ServerStartError("This dispatcher server is already started.")
        # Waitress would take a port past 65535 modulo 65536 and serve on another port.
        if isinstance(self.port, bool) or not isinstance(self.port, int) or not 0 <= self.port <= 65535:
            raise ServerStartError(
                f"Cannot serve on port {self.port!r}; pick a port from 0 to 65535 (0: any free one)."
            )
        workers = _Workers(self.name)
        channels: dict[int, Any] = {}
        try:
            server = create_server(
                self.app, map=channels, host=self.host, port=self.port, threads=self.threads,
                _dispatcher=workers, ident="rfconsole",
                # A 10,000-run listing is ~10 MB: keep it in memory rather than in the
                # temporary file Waitress uses past its 1 MB default.
                outbuf_overflow=OUTBUF_IN_MEMORY_BYTES,
                connection_limit=connection_limit(), channel_timeout=CHANNEL_TIMEOUT_SECONDS,
                cleanup_interval=CLEANUP_INTERVAL_SECONDS, asyncore_use_poll=True,
            )
        except (OSError, ValueError) as exc:
            # Waitress made its socket and wake-up pipe before the bind failed.
            for channel in list(channels.values()):
                channel.close()
            if isinstance(exc, OSError):
                raise ServerStartError(_bind_failure(self.host, self.port, exc)) from None
            raise ServerStartError(
                f"Cannot serve on {self.host}:{self.port}: {str(exc).rstrip('.')}; check --host."
            ) from None
        # Waitress starts the worker threads only for a pool it made itself.
        workers.set_thread_count(self.threads)
        self._server, self._workers = server, workers
        self._thread = threading.Thread(target=self._serve, name=self.name, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        try:
            self._server.run()
        except Exception:  # the loop thread must not die silently
            logger.exception("The dispatcher server stopped unexpectedly")

    def _close_connections(self, done: threading.Event) -> None:
        """Runs in the loop thread: close the listening socket and every open connection."""
        try:
            server = self._server
            for channel in list(server._map.values()):
                if channel is not server and channel is not server.trigger:
                    channel.handle_close()
            wasyncore.dispatcher.close(server)  # the listener only; the trigger stays open
        finally:
            done.set()

    def _wake(self, thunk: Any) -> bool:
        """Run `thunk` in the loop thread; False if its wake-up pipe is unusable."""
        try:
            self._server.trigger.pull_trigger(thunk)
        except OSError:
            logger.warning("The dispatcher loop's wake-up pipe is closed; stopping without it")
            return False
        return True

    def stop(self) -> None:
        """Close the listening socket and every open connection, then join the threads.

        Order matters: the wake-up pipe (trigger) is closed last, after the workers
        have ended, since a worker that finishes a request writes to it; written to
        once closed, its file descriptor could already belong to another file.
        """
        if self._thread is None:
            return
        assert self._workers is not None
        if self._thread.is_alive():
            closed = threading.Event()
            if not self._wake(lambda: self._close_connections(closed)):
                self._close_connections(closed)  # from here, as a last resort
            if not closed.wait(JOIN_SECONDS):
                logger.warning("The dispatcher loop did not close its connections in time")
        self._workers.shutdown(cancel_pending=True, timeout=JOIN_SECONDS)
        for worker in self._workers.started:
            worker.join(JOIN_SECONDS)
        if self._thread.is_alive():
            # With the trigger closed the loop's map is empty, so the loop ends (at the
            # latest after its one-second poll timeout when it cannot be woken).
            if not self._wake(self._server.trigger.close):
                self._server.trigger.close()
            self._thread.join(JOIN_SECONDS)
        if self._thread.is_alive():
            logger.warning("The dispatcher loop thread did not end in time")
        else:  # normally all closed already; not so if the loop thread had died
            for channel in list(self._server._map.values()):
                channel.close()
            self._server.trigger.close()
            wasyncore.dispatcher.close(self._server)
        self._thread = None
        self._server = None
        self._workers = None

    def __enter__(self) -> DispatcherServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _bind_failure(host: str, port: int, exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return (f"Port {port} on {host} is already in use; stop the other server or pick "
                f"another port with --port.")
    if exc.errno == errno.EADDRNOTAVAIL or isinstance(exc, socket.gaierror):
        return f"Cannot serve on {host}: this machine has no such address; check --host."
    if exc.errno == errno.EACCES:
        return f"Not allowed to bind port {port} on {host}; use a port above 1023."
    return f"Cannot serve on {host}:{port}: {exc.strerror or exc}."
