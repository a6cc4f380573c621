"""Public JSON shapes of runs, experiments and ops, built straight from Core rows.

The run listing is the hot path (10,000 runs), so runs are read with Core
SELECTs built once and never become ORM objects or pydantic models. The
JSON columns are fetched as their stored text and embedded as-is (an
`orjson.Fragment`), so a config is never parsed only to be encoded again.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

import orjson
from rfconsole.db.models import Experiment, Run
from sqlalchemy import Text, bindparam, cast, select
from sqlalchemy.engine import Connection, Row

RUNS = Run.__table__.c  # type: ignore[attr-defined]
EXPERIMENTS = Experiment.__table__.c  # type: ignore[attr-defined]

RUN_COLUMNS = (
    RUNS.run_id,
    RUNS.run_name,
    RUNS.status,
    RUNS.current_chunk,
    RUNS.num_chunks,
    RUNS.current_epoch,
    RUNS.num_epochs,
    RUNS.num_epochs_completed,
    RUNS.completed_steps,
    RUNS.total_steps,
    RUNS.num_chunks_visited,
    cast(RUNS.metrics, Text).label("metrics"),
    cast(RUNS.config_leaf, Text).label("config_leaf"),
    cast(RUNS.flattened_config, Text).label("flattened_config"),
    RUNS.source,
    RUNS.parent_run_id,
    RUNS.warm_start,
    RUNS.ended_by,
    RUNS.error,
    RUNS.metric_run_id,
    cast(RUNS.created_at, Text).label("created_at"),
    cast(RUNS.updated_at, Text).label("updated_at"),
)


def _json_text(stored: Any) -> str:
    """The column's JSON text, with any NaN/Infinity (Python's json writes them) made null.

    orjson.dumps writes NaN and Infinity as null, so re-encoding is all it takes.
    """
    if stored is None:
        return "{}"
    if not isinstance(stored, str):  # a driver that decodes JSON itself
        return orjson.dumps(stored).decode()
    if "NaN" in stored or "Infinity" in stored:
        return orjson.dumps(json.loads(stored)).decode()
    return stored


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def stamp_text(stored: Any) -> str | None:
    """A stored UTC timestamp as ISO 8601 with its offset: "2026-01-02T03:04:05.678901+00:00".

    SQLite keeps "2026-01-02 03:04:05.678901" (naive UTC, see db/models.py); this
    rewrites that text without parsing it, which matters for 10,000 runs.
    """
    if stored is None:
        return None
    if isinstance(stored, datetime):
        return (stored if stored.tzinfo else stored.replace(tzinfo=timezone.utc)).isoformat()
    if len(stored) == 26 and stored[10] == " ":
        return f"{stored[:10]}T{stored[11:]}+00:00"
    if stored[-3] in "+-" and stored[-2:].isdigit():  # PostgreSQL's "+00"; Python 3.10 wants "+00:00"
        stored += ":00"
    parsed = datetime.fromisoformat(stored)
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)).isoformat()


def run_dict(row: Sequence[Any], experiment_name: str) -> dict[str, Any]:
    """One run in its public shape (metrics a JSON string; config == config_leaf; metric_run_id
    is the run's id in MLflow, as RapidFire names it, or null)."""
    (run_id, run_name, status, current_chunk, num_chunks, current_epoch, num_epochs,
     num_epochs_completed, completed_steps, total_steps, num_chunks_visited, metrics,
     config_leaf, flattened_config, source, parent_run_id, warm_start, ended_by, error,
     metric_run_id, created_at, updated_at) = row
    total = num_chunks * num_epochs
    progress = min(1.0, max(0.0, num_chunks_visited / total)) if total > 0 else 0.0
    config = orjson.Fragment(_json_text(config_leaf))
    return {
        "run_id": run_id,
        "run_name": run_name,
        "experiment_name": experiment_name,
        "status": status,
        "current_chunk": current_chunk,
        "num_chunks": num_chunks,
        "current_epoch": current_epoch,
        "num_epochs": num_epochs,
        "num_epochs_completed": num_epochs_completed,
        "completed_steps": completed_steps,
        "total_steps": total_steps,
        "progress": progress,
        "metrics": _json_text(metrics),
        "config_leaf": config,
        "config": config,
        "flattened_config": orjson.Fragment(_json_text(flattened_config)),
        "source": source,
        "parent_run_id": parent_run_id,
        "warm_start": bool(warm_start),
        "ended_by": ended_by,
        "error": error,
        "num_chunks_visited": num_chunks_visited,
        "metric_run_id": metric_run_id,
        "created_at": stamp_text(created_at),
        "updated_at": stamp_text(updated_at),
    }


# Statements are built once: building a 20-column SELECT costs more than running it.
_ONE_RUN = (
    select(*RUN_COLUMNS, EXPERIMENTS.name)
    .join_from(Run.__table__, Experiment.__table__, RUNS.experiment_id == EXPERIMENTS.id)
    .where(RUNS.run_id == bindparam("wanted_run_id"))
)


def fetch_run(conn: Connection, run_id: int) -> dict[str, Any] | None:
    row = conn.execute(_ONE_RUN, {"wanted_run_id": run_id}).first()
    if row is None:
        return None
    return run_dict(row[:-1], row[-1])


_RUNS_BY_ID = select(*RUN_COLUMNS).where(RUNS.run_id.in_(bindparam("wanted_ids", expanding=True)))


def fetch_runs_by_id(conn: Connection, run_ids: list[int]) -> list[Row[Any]]:
    """Full rows of these runs (any order), in batches that stay under SQL's parameter limits."""
    found: list[Row[Any]] = []
    for start in range(0, len(run_ids), 500):
        found.extend(conn.execute(_RUNS_BY_ID, {"wanted_ids": run_ids[start:start + 500]}))
    return found


# --- experiments -------------------------------------------------------------

EXPERIMENT_SUMMARY = (EXPERIMENTS.id, EXPERIMENTS.name, EXPERIMENTS.revision,
                      EXPERIMENTS.status, EXPERIMENTS.experiment_path)


_NAMED_EXPERIMENT = select(*EXPERIMENT_SUMMARY).where(EXPERIMENTS.name == bindparam("wanted_name"))
# The running experiment first (the latest of them), else the latest one, in one query
# (a scan of the experiments table, which holds one row per experiment: few).
_CURRENT_EXPERIMENT = (
    select(*EXPERIMENT_SUMMARY)
    .order_by((EXPERIMENTS.status == "running").desc(), EXPERIMENTS.id.desc())
    .limit(1)
)


def current_experiment(conn: Connection, name: str | None = None) -> Any:
    """(id, name, revision, status, experiment_path) of the named experiment, or of the
    current one (the running one, else the latest); None when there is none."""
    if name is not None:
        return conn.execute(_NAMED_EXPERIMENT, {"wanted_name": name}).first()
    return conn.execute(_CURRENT_EXPERIMENT).first()


def experiment_dict(experiment: Any) -> dict[str, Any]:
    """The public shape of an `ExperimentRead` (no filesystem path: clients need none)."""
    return {
        "experiment_id": experiment.id,
        "experiment_name": experiment.name,
        "status": experiment.status,
        "config": experiment.config,
        "config_schema": experiment.config_schema,
        "num_chunks": experiment.num_chunks,
        "num_epochs": experiment.num_epochs,
        "error": experiment.error,
        "created_at": _iso(experiment.created_at),
        "ended_at": _iso(experiment.ended_at),
        "controller_alive": experiment.controller_alive,
        "controller_seen_at": _iso(experiment.controller_seen_at),
    }


def op_dict(op: Any) -> dict[str, Any]:
    """The public shape of an `ICOpRead`."""
    return {
        "ic_id": op.ic_id,
        "run_id": op.run_id,
        "experiment_id": op.experiment_id,
        "operation": op.operation,
        "config_leaf": op.config_leaf,
        "warm_start": op.warm_start,
        "status": op.status,
        "error": op.error,
        "new_run_id": op.new_run_id,
        "origin": op.origin,
        "created_at": _iso(op.created_at),
        "claimed_at": _iso(op.claimed_at),
        "processed_at": _iso(op.processed_at),
    }
