"""`rfconsole serve`: the dispatcher in the foreground until Ctrl-C, SIGTERM or SIGHUP.

A flag wins over its `RFCONSOLE_*` variable; the variables are read by
config.py (the one place that parses them).
"""

from __future__ import annotations

import argparse
import gc
import logging
import signal
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rfconsole.db.errors import StoreError

from .app import URL_PREFIX, attach_store, create_app, fail_state, prewarm_in_background
from .config import DEFAULTS, ConfigError, from_env
from .errors import ServerStartError
from .security import check_bind
from .server import DispatcherServer

if TYPE_CHECKING:
    from rfconsole.db.store import Store

EXIT_FAILURE = 1
# How long a failed open waits for the requests that waited for it to get their answer.
SETTLE_SECONDS = 2.0
JOIN_SECONDS = 10.0
DEFAULT_PORT = 8081
# Signals that end `serve` as Ctrl-C does (SIGHUP: the terminal went away).
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


def _say(message: str) -> None:
    print(f"rfconsole: {message}", file=sys.stderr, flush=True)


def serve_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The environment's settings with the command line's flags over them."""
    chosen = from_env()
    given: dict[str, Any] = {
        "TOKEN": getattr(args, "token", None),
        "CORS_ORIGINS": getattr(args, "cors_origin", None),
        "ALLOWED_HOSTS": getattr(args, "allowed_host", None),
        "INSECURE": getattr(args, "insecure", None) or None,
        "READONLY": getattr(args, "readonly", None) or None,
        "PORT": getattr(args, "port", None),
        "DB": getattr(args, "db", None),
    }
    chosen.update({key: value for key, value in given.items() if value is not None})
    host = getattr(args, "host", None)
    if host:
        chosen["BIND_HOSTS"] = (host,)
    chosen.setdefault("BIND_HOSTS", DEFAULTS["BIND_HOSTS"])
    chosen.setdefault("PORT", DEFAULT_PORT)
    return chosen


def run_serve(args: argparse.Namespace) -> int:
    """Listen first, then open the database: the first answer (a health check) comes before the
    data layer has even loaded; views that read data wait for the database, and a database that
    cannot be opened ends `serve` with its one sentence."""
    try:
        settings = serve_settings(args)
        host: str = settings["BIND_HOSTS"][0]
        token: str | None = settings.get("TOKEN") or None
        check_bind(host, token, bool(settings.get("INSECURE")))
        # The listing is encoded once the database is open (10,000 runs: ~0.1 s), in a thread.
        app = create_app(None, config={**settings, "PREWARM": False})
    except (ConfigError, ServerStartError) as exc:
        _say(exc.message)
        return EXIT_FAILURE
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    server = DispatcherServer(app, host=host, port=settings["PORT"])
    try:
        server.start()
    except ServerStartError as exc:
        _say(exc.message)
        return EXIT_FAILURE
    try:
        store = _open_store(settings.get("DB"))
    except StoreError as exc:
        fail_state(app, exc.message, settle_seconds=SETTLE_SECONDS)
        server.stop()
        _say(exc.message)
        return EXIT_FAILURE
    except BaseException:  # Ctrl-C while opening: no server thread is left behind
        fail_state(app, "The dispatcher is stopping.")
        server.stop()
        raise
    attach_store(app, store)
    warming = prewarm_in_background(app) if settings.get("PREWARM", True) else None
    stop = threading.Event()
    previous = _on_stop_signals(stop)
    modes = ["token required" if token else "no token"] + (["read-only"] if settings.get("READONLY") else [])
    # store.url hides the password of a server database's URL.
    print(f"rfconsole dispatcher serving {server.url}{URL_PREFIX} (web dashboard: {server.url}/) on {store.url} "
          f"({', '.join(modes)}); press Ctrl-C to stop.", flush=True)
    if not token and _is_wildcard(host) and not settings.get("ALLOWED_HOSTS"):
        _say(f"without a token only loopback names are served on {host}; give the names clients use "
             f"with --allowed-host (or set --token).")
    try:
        while not stop.wait(0.5):
            if not server.running:
                _say("the dispatcher server stopped unexpectedly; see the log above.")
                return EXIT_FAILURE
    except KeyboardInterrupt:
        pass
    finally:
        print("rfconsole dispatcher stopping.", flush=True)
        server.stop()
        if warming is not None:
            warming.join(JOIN_SECONDS)
        store.close()
        for number, handler in previous.items():
            signal.signal(number, handler)
    return 0


def _open_store(db: str | None) -> Store:
    """Load the data layer (SQLAlchemy, SQLModel, pydantic) and open the database.

    The cyclic garbage collector is off while the data layer loads: that makes objects by
    the hundred thousand, none of them garbage, and collecting meanwhile costs about a
    seventh of the time. What start-up made is then frozen (`gc.freeze`), so later
    collections skip it.
    """
    gc.disable()
    try:
        from rfconsole.db.store import Store

        from . import bodies, listing  # noqa: F401 - what the views need, loaded now
    finally:
        gc.freeze()
        gc.enable()
    return Store.open(db)


def _is_wildcard(host: str) -> bool:
    return host.strip("[]") in ("0.0.0.0", "::", "")


def _on_stop_signals(stop: threading.Event) -> dict[int, Any]:
    """Let SIGTERM and SIGHUP end the loop like Ctrl-C does (only possible from the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    handler: Callable[[int, Any], None] = lambda *_: stop.set()  # noqa: E731
    return {number: signal.signal(number, handler) for number in STOP_SIGNALS}
