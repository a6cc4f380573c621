"""The app factory: `create_app(store, ...)` builds the dispatcher's Flask app.

Nothing happens at import time; the CLI, the console, the WSGI entry point and
the tests all call `create_app`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from importlib import resources

from flask import Flask
from rfconsole.db import Store
from sqlalchemy import Engine

from . import errors, security
from .routes_logs import logs
from .routes_meta import meta
from .routes_ops import ops
from .routes_runs import runs
from .state import DispatcherState, install_state
from .web import web

URL_PREFIX = "/dispatcher"
MAX_BODY_BYTES = 1024 * 1024


def load_openapi() -> bytes:
    return resources.files("rfconsole.dispatcher").joinpath("openapi.json").read_bytes()


def create_app(
    store: Store | Engine | str | os.PathLike[str],
    *,
    token: str | None = None,
    cors_origins: Iterable[str] = (),
    experiment_log_component: str = "dispatcher",
    max_content_length: int = MAX_BODY_BYTES,
    prewarm: bool = True,
    readonly: bool = False,
) -> Flask:
    """The dispatcher app on `store` (a Store, an Engine, or a database path or URL).

    `token`: when set, every route but health-check and CORS preflight needs
    `Authorization: Bearer <token>`. `cors_origins`: origins allowed besides
    RapidFire's development ones. `experiment_log_component`: the component
    name of this app's lines in the experiment log. `prewarm`: encode the current
    experiment's runs now, so that the first get-all-runs is as fast as the next ones.
    `readonly`: announced by get-server-info, so that the web page shows no op controls.
    """
    if isinstance(store, Engine):
        store = Store(store)
    elif not isinstance(store, Store):
        store = Store.open(os.fspath(store))
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = max_content_length
    app.config["RFCONSOLE_OPENAPI"] = load_openapi()
    app.config["RFCONSOLE_READONLY"] = readonly
    app.config["RFCONSOLE_TOKEN_REQUIRED"] = bool(token)
    state = DispatcherState(store=store, log_component=experiment_log_component)
    install_state(app, state)
    errors.register_error_handlers(app)
    security.install(app, token=token or None, cors_origins=cors_origins)
    for blueprint in (meta, runs, ops, logs):
        app.register_blueprint(blueprint, url_prefix=URL_PREFIX)
    app.register_blueprint(web)  # the web dashboard at /
    if prewarm:
        state.listing.prewarm()
    return app
