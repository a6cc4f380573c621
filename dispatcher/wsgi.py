"""WSGI entry point for production servers: `rfconsole.dispatcher.wsgi:app`.

    RFCONSOLE_DB=/data/rfconsole.db RFCONSOLE_TOKEN=secret \\
        gunicorn -c dispatcher/gunicorn.conf.py rfconsole.dispatcher.wsgi:app

The app is built on first access of `app` (not at import), from the
`RFCONSOLE_*` variables that config.py reads (`RFCONSOLE_DB`, default: the user
data folder; `RFCONSOLE_TOKEN`, `RFCONSOLE_CORS_ORIGIN`, `RFCONSOLE_ALLOWED_HOSTS`,
`RFCONSOLE_READONLY`, `RFCONSOLE_BIND`).
"""

from __future__ import annotations

import threading
from typing import Any

_lock = threading.Lock()
_app: Any = None


def build_app() -> Any:
    from rfconsole.db import Store

    from .app import create_app
    from .config import from_env

    config = from_env()
    return create_app(Store.open(config.get("DB")), config=config)


def __getattr__(name: str) -> Any:
    global _app
    if name != "app":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    with _lock:
        if _app is None:
            _app = build_app()
    return _app
