"""Interactive Control requests (stop, resume, delete, clone-modify) and the ops history.

The state rules live in the data layer (`rfconsole.db.ic_ops`); a view only
validates the body, calls the rule inside one write transaction, logs the
request and shapes the answer.

Before any of that, every op request (POST) is refused when this dispatcher is
read-only (403), and when its body is not declared JSON (415): a web page can
send a form or text body to another site without asking first, but not a JSON
one. A refusal repeated for the same run and reason is logged once per 10 s.

The data layer and the request bodies (SQLAlchemy, SQLModel, pydantic) are
imported inside the views, so that `serve` answers before they load (app.py).
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, current_app, request
from rfconsole.db.errors import StoreError

from .errors import ApiError
from .refusals import repeats_note
from .responses import json_response
from .rows import op_dict
from .state import state

ops = Blueprint("ops", __name__)
logger = logging.getLogger("rfconsole.dispatcher")

_MESSAGES = {
    "STOP": "Stop request created successfully",
    "RESUME": "Resume request created successfully",
    "DELETE": "Delete request created successfully",
}


READ_ONLY_MESSAGE = ("This dispatcher is read-only (started with --readonly); it shows runs but accepts "
                     "no stop, resume, delete or clone-modify.")


@ops.before_request
def _writable_json_only() -> None:
    if request.method != "POST":
        return
    if current_app.config["READONLY"]:  # known before the database is open
        raise ApiError(403, READ_ONLY_MESSAGE)
    declared = request.environ.get("CONTENT_TYPE", "")
    if declared == "application/json" or declared.startswith("application/json;"):
        return  # the usual header, without parsing it
    if request.mimetype != "application/json":
        given = request.mimetype or "none"
        raise ApiError(415, f"Op requests need a JSON body sent as 'Content-Type: application/json' "
                            f"(this one was {given[:60]!r}).")


def _origin() -> str:
    return f"http:{request.remote_addr or 'unknown'}"


def _log_refusal(run_id: int, what: str, exc: StoreError) -> None:
    left_out = state().refusals.admit((run_id, what, exc.message))
    if left_out is None:
        return
    message = f"{what} of run {run_id} from {_origin()} refused: {exc.message}{repeats_note(left_out)}"
    logger.info(message)
    from rfconsole.db.listing import run_experiment_id

    experiment_id = run_experiment_id(state().store.engine, run_id)
    if experiment_id is not None:  # an unknown run: the process log only
        state().log_event(experiment_id, "WARNING", message)


def _request(operation: str, run_id: int, **options: Any) -> Any:
    what = operation.lower().replace("_", "-")
    try:
        if options:
            from rfconsole.db import ic_ops

            with state().store.write() as session:
                op = ic_ops.request_op(session, operation, run_id=run_id, origin=_origin(), **options)
        else:  # stop, resume, delete: the data layer's fast path where it has one
            op = state().store.hot.request_op(operation, run_id=run_id, origin=_origin())
    except StoreError as exc:
        _log_refusal(run_id, what.capitalize(), exc)
        raise
    detail = f" -> new run {op.new_run_id}" if op.new_run_id is not None else ""
    message = f"{what.capitalize()} of run {run_id} requested from {_origin()} (op {op.ic_id}){detail}"
    logger.info(message)
    state().log_event(op.experiment_id, "INFO", message)
    return op


def _simple(operation: str) -> Response:
    from .bodies import RunIdBody, parse_body

    body = parse_body(RunIdBody)
    op = _request(operation, body.run_id)
    return json_response({"message": _MESSAGES[operation], "ic_id": op.ic_id})


@ops.post("/stop-run")
def stop_run() -> Response:
    return _simple("STOP")


@ops.post("/resume-run")
def resume_run() -> Response:
    return _simple("RESUME")


@ops.post("/delete-run")
def delete_run() -> Response:
    return _simple("DELETE")


@ops.post("/clone-modify-run")
def clone_modify_run() -> Response:
    from .bodies import CloneBody, parse_body

    body = parse_body(CloneBody)
    op = _request("CLONE_MODIFY", body.run_id, warm_start=body.warm_start, **body.clone_config())
    return json_response({
        "message": "Clone-modify request created",
        "new_run_id": op.new_run_id,
        "ic_id": op.ic_id,
    })


@ops.get("/all-operations")
def all_operations() -> Response:
    """The PENDING ops of every experiment, oldest first."""
    from rfconsole.db import ic_ops

    with state().store.read() as session:
        pending = ic_ops.list_pending(session)
    return json_response([op_dict(op) for op in pending])


@ops.get("/get-ic-ops")
def get_ic_ops() -> Response:
    """The ops history with outcomes, newest first: of one run (and its clones' creation)
    with `run_id`, else of the named or current experiment."""
    from rfconsole.db import experiments, ic_ops

    from .bodies import query_int

    run_id = query_int("run_id")
    status = request.args.get("status")
    limit = query_int("limit")
    offset = query_int("offset", default=0) or 0
    name = request.args.get("experiment") or None
    with state().store.read() as session:
        experiment_id = None
        if run_id is None:
            experiment = (experiments.get_experiment_by_name(session, name) if name
                          else experiments.get_current_experiment(session))
            if experiment is None:
                return json_response([])
            experiment_id = experiment.id
        history = ic_ops.list_ops(session, experiment_id=experiment_id, run_id=run_id,
                                  status=status, limit=limit, offset=offset)
    return json_response([op_dict(op) for op in history])
