"""Public JSON shapes of runs, experiments and ops.

Runs arrive as rows from `rfconsole.db.listing` (in its `RUN_FIELDS` order) and
never become ORM objects or pydantic models: the listing is the hot path
(10,000 runs). The JSON columns come as their stored text and are embedded
as-is (an `orjson.Fragment`) once checked, so a config is never re-encoded. A
stored value that is not JSON is shown as null and the run's `error` says so:
the listing never sends a body that clients cannot parse.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from rfconsole.db.store import Store

_loads = orjson.loads


class _Unreadable(Exception):
    """A stored JSON value that cannot be decoded."""


def _json_text(stored: Any) -> str:
    """The column's JSON text, checked; any NaN/Infinity (Python's json writes them) made null.

    orjson refuses NaN and Infinity, which Python's json writes; those values are
    decoded leniently and re-encoded (orjson writes them as null). Raises
    `_Unreadable` for text that is not JSON at all.
    """
    if stored is None:
        return "{}"
    if not isinstance(stored, str):  # a driver that decodes JSON itself
        return orjson.dumps(stored).decode()
    try:
        orjson.loads(stored)
        return stored
    except orjson.JSONDecodeError:
        pass
    try:
        return orjson.dumps(json.loads(stored)).decode()
    except (ValueError, TypeError, RecursionError):
        raise _Unreadable from None


def _checked(stored: Any, field: str, problems: list[str]) -> str | None:
    try:
        return _json_text(stored)
    except _Unreadable:
        problems.append(field)
        return None


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


def _stamp(stored: Any) -> str | None:
    """stamp_text, with SQLite's usual form rewritten inline (two per run, 10,000 runs)."""
    if type(stored) is str and len(stored) == 26 and stored[10] == " ":
        return f"{stored[:10]}T{stored[11:]}+00:00"
    return stamp_text(stored)


def run_dict(row: Sequence[Any], experiment_name: str) -> dict[str, Any]:
    """One run in its public shape (metrics a JSON string; config == config_leaf; metric_run_id
    is the run's id in MLflow, as RapidFire names it, or null)."""
    (run_id, run_name, status, current_chunk, num_chunks, current_epoch, num_epochs,
     num_epochs_completed, completed_steps, total_steps, num_chunks_visited, metrics,
     config_leaf, flattened_config, source, parent_run_id, warm_start, ended_by, error,
     metric_run_id, created_at, updated_at) = row
    total = num_chunks * num_epochs
    progress = min(1.0, max(0.0, num_chunks_visited / total)) if total > 0 else 0.0
    try:  # the common case, in one go: three stored strict-JSON texts
        _loads(metrics)
        _loads(config_leaf)
        _loads(flattened_config)
        metrics_text, config_text, flat_text = metrics, config_leaf, flattened_config
    except (orjson.JSONDecodeError, TypeError):  # NaN, NULL, a decoded value, or damage
        problems: list[str] = []
        metrics_text = _checked(metrics, "metrics", problems)
        config_text = _checked(config_leaf, "config_leaf", problems)
        flat_text = _checked(flattened_config, "flattened_config", problems)
        if problems:
            unreadable = (f"The stored {' and '.join(problems)} of this run "
                          f"{'is' if len(problems) == 1 else 'are'} not valid JSON and shown as null.")
            error = f"{error} {unreadable}" if error else unreadable
    config = None if config_text is None else orjson.Fragment(config_text)
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
        "metrics": metrics_text,
        "config_leaf": config,
        "config": config,
        "flattened_config": None if flat_text is None else orjson.Fragment(flat_text),
        "source": source,
        "parent_run_id": parent_run_id,
        "warm_start": bool(warm_start),
        "ended_by": ended_by,
        "error": error,
        "num_chunks_visited": num_chunks_visited,
        "metric_run_id": metric_run_id,
        "created_at": _stamp(created_at),
        "updated_at": _stamp(updated_at),
    }


def fetch_run(store: Store, run_id: int) -> dict[str, Any] | None:
    """One run in its public shape, or None for an unknown run."""
    found = store.hot.run_row(run_id)
    return None if found is None else run_dict(*found)


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
