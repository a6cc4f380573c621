"""The log routes: the experiment log and its interactive-control lines, newest last.

The file read is always the one the database records for the experiment
(`<experiment path>/logs/experiment.log`); no request field ever becomes a path.

The data layer and the request bodies (SQLAlchemy, SQLModel, pydantic) are
imported inside the views, so that `serve` answers before they load (app.py).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from flask import Blueprint, Response
from rfconsole.db import experiment_log

from .errors import ApiError
from .responses import json_response
from .state import state

if TYPE_CHECKING:
    from rfconsole.db.models import ExperimentRead

logs = Blueprint("logs", __name__)
logger = logging.getLogger("rfconsole.dispatcher")


def _tail(component: str | None) -> Response:
    from rfconsole.db import experiments

    from .bodies import LogsBody, parse_body

    body = parse_body(LogsBody, optional=True)
    experiment: ExperimentRead | None
    with state().store.read() as session:
        if body.experiment_name:
            experiment = experiments.get_experiment_by_name(session, body.experiment_name)
        else:
            experiment = experiments.get_current_experiment(session)
    if experiment is None or not experiment.experiment_path:  # nothing has been logged yet
        return json_response([])
    path = experiment_log.log_file(experiment.experiment_path)
    try:
        lines = experiment_log.tail(path, limit=body.limit, component=component)
    except OSError as exc:
        logger.warning("Cannot read %s: %s", path, exc)
        raise ApiError(500, f"The log of experiment {experiment.name!r} cannot be read "
                            f"({exc.strerror or exc}); check its file's permissions on the server.") from None
    return json_response(lines)


@logs.post("/get-experiment-logs")
def get_experiment_logs() -> Response:
    return _tail(None)


@logs.post("/get-ic-logs")
def get_ic_logs() -> Response:
    return _tail(experiment_log.INTERACTIVE_CONTROL)
