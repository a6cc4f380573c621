"""`rfconsole serve`: the dispatcher in the foreground until Ctrl-C (or SIGTERM)."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from typing import Any

from rfconsole.db import Store
from rfconsole.db.errors import StoreError

from .app import URL_PREFIX, create_app
from .errors import ServerStartError
from .security import check_bind
from .server import DispatcherServer

EXIT_FAILURE = 1


def _say(message: str) -> None:
    print(f"rfconsole: {message}", file=sys.stderr, flush=True)


def run_serve(args: argparse.Namespace) -> int:
    host: str = args.host
    token: str | None = getattr(args, "token", None) or None
    try:
        check_bind(host, token, bool(getattr(args, "insecure", False)))
        store = Store.open(getattr(args, "db", None))
    except (ServerStartError, StoreError) as exc:
        _say(exc.message)
        return EXIT_FAILURE
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    server = DispatcherServer(
        create_app(store, token=token, cors_origins=getattr(args, "cors_origin", None) or ()),
        host=host, port=args.port,
    )
    try:
        server.start()
    except ServerStartError as exc:
        store.close()
        _say(exc.message)
        return EXIT_FAILURE
    stop = threading.Event()
    previous = _on_sigterm(stop)
    print(f"rfconsole dispatcher serving {server.url}{URL_PREFIX} (web dashboard: {server.url}/) on {store.url} "
          f"({'token required' if token else 'no token'}); press Ctrl-C to stop.", flush=True)
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
        store.close()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return 0


def _on_sigterm(stop: threading.Event) -> Any:
    """Let SIGTERM end the loop like Ctrl-C does (only possible from the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, lambda *_: stop.set())
