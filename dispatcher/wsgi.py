"""WSGI entry point for production servers: `rfconsole.dispatcher.wsgi:app`.

    RFCONSOLE_DB=/data/rfconsole.db RFCONSOLE_TOKEN=secret \\
        gunicorn -c dispatcher/gunicorn.conf.py rfconsole.dispatcher.wsgi:app

The app is built on first access of `app` (not at import), from RFCONSOLE_DB
(default: the user data folder), RFCONSOLE_TOKEN and RFCONSOLE_CORS_ORIGIN
(comma-separated).
"""

from __future__ import annotations

import os
import threading
from typing import Any

_lock = threading.Lock()
_app: Any = None


def build_app() -> Any:
    from rfconsole.db import Store

    from .app import create_app

    origins = [o for o in os.environ.get("RFCONSOLE_CORS_ORIGIN", "").split(",") if o.strip()]
    return create_app(
        Store.open(os.environ.get("RFCONSOLE_DB") or None),
        token=os.environ.get("RFCONSOLE_TOKEN") or None,
        cors_origins=origins,
    )


def __getattr__(name: str) -> Any:
    global _app
    if name != "app":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    with _lock:
        if _app is None:
            _app = build_app()
    return _app
