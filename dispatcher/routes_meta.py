"""Health, the OpenAPI document, and the experiment routes.

The data layer and the request bodies (SQLAlchemy, SQLModel, pydantic) are
imported inside the views, so that `serve` answers before they load (app.py).
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app
from rfconsole.db.errors import NotFoundError

from .errors import ApiError
from .responses import json_response, raw_json_response
from .rows import experiment_dict
from .state import state

meta = Blueprint("meta", __name__)


def server_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("rfconsole")
    except PackageNotFoundError:  # running from a checkout that is not installed
        return "unknown"


@meta.get("/health-check")
def health_check() -> Response:
    return json_response("Dispatcher is up and running")


@meta.get("/get-server-info")
def get_server_info() -> Response:
    """What a client must know before it calls anything else (open even with a token)."""
    return json_response({
        "readonly": bool(current_app.config["READONLY"]),
        "token_required": bool(current_app.config["TOKEN"]),
        "version": server_version(),
    })


@meta.get("/openapi.json")
def openapi() -> Response:
    return raw_json_response(current_app.config["RFCONSOLE_OPENAPI"])


@meta.get("/get-all-experiment-names")
def get_all_experiment_names() -> Response:
    from rfconsole.db import experiments

    with state().store.read() as session:
        return json_response(experiments.list_experiment_names(session))


@meta.get("/get-running-experiment")
def get_running_experiment() -> Response:
    from rfconsole.db import experiments

    with state().store.read() as session:
        running = experiments.get_running_experiment(session)
    if running is None:
        raise ApiError(404, "No experiment is running; start one, or pick one by name.")
    return json_response(experiment_dict(running))


@meta.get("/get-experiment-by-name/<path:name>")
def get_experiment_by_name(name: str) -> Response:
    from rfconsole.db import experiments

    with state().store.read() as session:
        return json_response(experiment_dict(experiments.get_experiment_by_name(session, name)))


@meta.post("/is-experiment-running")
def is_experiment_running() -> Response:
    from rfconsole.db import experiments

    from .bodies import ExperimentNameBody, parse_body

    body = parse_body(ExperimentNameBody)
    with state().store.read() as session:
        try:
            status = experiments.get_experiment_by_name(session, body.experiment_name).status
        except NotFoundError:  # the frontend polls this; an unknown name is simply not running
            status = None
    return json_response({"is_running": status == "running"})
