"""The app factory: `create_app(store, config)` builds the dispatcher's Flask app.

    create_app(store)                                        # loopback, no token
    create_app(store, {"TOKEN": "s3cret", "READONLY": True})  # keys: see config.py
    create_app("/data/rfconsole.db", config=from_env())      # the RFCONSOLE_* variables
    create_app(store, token="s3cret", readonly=True)         # the same keys, lower case
    create_app(None, config); ...; attach_store(app, store)  # answers before the database is open

Nothing happens at import time; the CLI, the console, the WSGI entry point and
the tests all call `create_app`. The settings end up in `app.config`.

Importing this module and making an app loads Flask, not the data layer
(SQLAlchemy, SQLModel, pydantic): the views import it when first called. So
`rfconsole serve` answers its first request (a health check) before those have
loaded, and opens its database meanwhile; views that read data wait for it
(state.py). A test checks that nothing here imports them.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from importlib import resources
from typing import TYPE_CHECKING, Any

from flask import Flask

from . import errors, security
from .config import MAX_BODY_BYTES, settings
from .routes_logs import logs
from .routes_meta import meta
from .routes_ops import ops
from .routes_runs import runs
from .state import DispatcherState, app_state, expect_state, fail_state, install_state
from .web import web

if TYPE_CHECKING:
    from rfconsole.db.store import Store

__all__ = ["MAX_BODY_BYTES", "URL_PREFIX", "attach_store", "create_app", "fail_state", "load_openapi",
           "prewarm_in_background"]

URL_PREFIX = "/dispatcher"


def load_openapi() -> bytes:
    return resources.files("rfconsole.dispatcher").joinpath("openapi.json").read_bytes()


def create_app(store: Store | str | os.PathLike[str] | None, config: Mapping[str, Any] | None = None,
               **overrides: Any) -> Flask:
    """The dispatcher app on `store` (a Store, or a database path or URL).

    `store` None: the database comes later, with `attach_store(app, store)` (or
    `fail_state(app, why)`); until then the views that read data wait for it.
    `config`: settings by key (`TOKEN`, `CORS_ORIGINS`, `ALLOWED_HOSTS`,
    `BIND_HOSTS`, `READONLY`, `LOG_COMPONENT`, `MAX_CONTENT_LENGTH`, `PREWARM`;
    see config.py); keyword `overrides` name the same keys in lower case and win.
    """
    if isinstance(store, (str, os.PathLike)):
        from rfconsole.db.store import Store

        store = Store.open(os.fspath(store))
    chosen = settings(config, **overrides)
    app = Flask(__name__)
    app.config.update(chosen)
    app.config["RFCONSOLE_OPENAPI"] = load_openapi()
    errors.register_error_handlers(app)
    security.install(app, chosen)
    for blueprint in (meta, runs, ops, logs):
        app.register_blueprint(blueprint, url_prefix=URL_PREFIX)
    app.register_blueprint(web)  # the web dashboard at /
    if store is None:
        expect_state(app)
    else:
        attach_store(app, store)
    return app


def attach_store(app: Flask, store: Store) -> None:
    """Give `app` its open database (encoding the listing first when the app prewarms)."""
    state = DispatcherState(store=store, log_component=app.config["LOG_COMPONENT"],
                            readonly=app.config["READONLY"])
    if app.config["PREWARM"]:
        state.listing.prewarm()
    install_state(app, state)


def prewarm_in_background(app: Flask) -> threading.Thread:
    """Encode the current experiment's runs in a daemon thread (for an app made with
    prewarm=False): a server started meanwhile answers at once, and a listing asked for
    before the thread is done waits for it instead of encoding the runs a second time."""
    thread = threading.Thread(target=app_state(app).listing.prewarm, name="rfconsole-prewarm", daemon=True)
    thread.start()
    return thread
