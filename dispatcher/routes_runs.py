"""Reading runs: the listing (with ETag / 304), one run, and a run's metric history.

The data layer and the request bodies (SQLAlchemy, SQLModel, pydantic) are
imported inside the views, so that `serve` answers before they load (app.py).
"""

from __future__ import annotations

from flask import Blueprint, Response, request

from .errors import ApiError
from .responses import json_response, raw_json_response
from .rows import fetch_run
from .state import state

runs = Blueprint("runs", __name__)


def _statuses(text: str | None) -> list[str] | None:
    """`status=ONGOING,STOPPED` -> ["ONGOING", "STOPPED"]; the data layer refuses unknown ones."""
    from rfconsole.db import runs as runs_data

    return None if text is None else runs_data.check_statuses(text.split(","))


@runs.get("/get-all-runs")
def get_all_runs() -> Response:
    from .bodies import query_int

    listing = state().listing.get(
        experiment=request.args.get("experiment") or None,
        statuses=_statuses(request.args.get("status")),
        limit=query_int("limit"),
        offset=query_int("offset", default=0) or 0,
        if_none_match=request.headers.get("If-None-Match"),
    )
    if listing.body is None:
        response = Response(status=304)
    else:
        response = raw_json_response(listing.body)
        response.headers["X-Total-Count"] = str(listing.total)
    response.headers["ETag"] = listing.etag
    response.headers["Cache-Control"] = "no-cache"
    return response


@runs.post("/get-run")
def get_run() -> Response:
    from .bodies import RunIdBody, parse_body

    body = parse_body(RunIdBody)
    run = fetch_run(state().store, body.run_id)
    if run is None:
        raise ApiError(404, f"There is no run with id {body.run_id}.")
    return json_response(run)


@runs.get("/get-run-metrics")
def get_run_metrics() -> Response:
    from rfconsole.db import metrics
    from rfconsole.db import runs as runs_data

    from .bodies import query_int

    run_id = query_int("run_id")
    if run_id is None:
        raise ApiError(400, "Query parameter run_id is required (a whole number of 0 or more).")
    max_points = query_int("max_points", low=2)
    names_text = request.args.get("names")
    names = [n.strip() for n in names_text.split(",") if n.strip()] if names_text else None
    with state().store.read() as session:
        runs_data.get_run(session, run_id)  # an unknown run is a 404, not an empty history
        history = metrics.metric_history(session, run_id=run_id, names=names,
                                         max_points=max_points)
    return json_response({
        "run_id": run_id,
        "metrics": {
            name: [
                {"step": p.step, "epoch": p.epoch, "chunk": p.chunk, "value": p.value,
                 "timestamp": p.timestamp.isoformat()}
                for p in points
            ]
            for name, points in history.items()
        },
    })
