"""The app factory: `create_app(store, config)` builds the dispatcher's Flask app.

    create_app(store)                                        # loopback, no token
    create_app(store, {"TOKEN": "s3cret", "READONLY": True})  # keys: see config.py
    create_app("/data/rfconsole.db", config=from_env())      # the RFCONSOLE_* variables
    create_app(store, token="s3cret", readonly=True)         # the same keys, lower case

Nothing happens at import time; the CLI, the console, the WSGI entry point and
the tests all call `create_app`. The settings end up in `app.config`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from importlib import resources
from typing import Any

from flask import Flask
from rfconsole.db import Store

from . import errors, security
from .config import MAX_BODY_BYTES, settings
from .routes_logs import logs
from .routes_meta import meta
from .routes_ops import ops
from .routes_runs import runs
from .state import DispatcherState, install_state
from .web import web

__all__ = ["MAX_BODY_BYTES", "URL_PREFIX", "create_app", "load_openapi"]

URL_PREFIX = "/dispatcher"


def load_openapi() -> bytes:
    return resources.files("rfconsole.dispatcher").joinpath("openapi.json").read_bytes()


def create_app(store: Store | str | os.PathLike[str], config: Mapping[str, Any] | None = None,
               **overrides: Any) -> Flask:
    """The dispatcher app on `store` (a Store, or a database path or URL).

    `config`: settings by key (`TOKEN`, `CORS_ORIGINS`, `ALLOWED_HOSTS`,
    `BIND_HOSTS`, `READONLY`, `LOG_COMPONENT`, `MAX_CONTENT_LENGTH`, `PREWARM`;
    see config.py); keyword `overrides` name the same keys in lower case and win.
    """
    if not isinstance(store, Store):
        store = Store.open(os.fspath(store))
    chosen = settings(config, **overrides)
    app = Flask(__name__)
    app.config.update(chosen)
    app.config["RFCONSOLE_OPENAPI"] = load_openapi()
    state = DispatcherState(store=store, log_component=chosen["LOG_COMPONENT"], readonly=chosen["READONLY"])
    install_state(app, state)
    errors.register_error_handlers(app)
    security.install(app, chosen)
    for blueprint in (meta, runs, ops, logs):
        app.register_blueprint(blueprint, url_prefix=URL_PREFIX)
    app.register_blueprint(web)  # the web dashboard at /
    if chosen["PREWARM"]:
        state.listing.prewarm()
    return app
