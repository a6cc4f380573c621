"""How a run of ours looks in MLflow: names, statuses, params, tags, and batches within MLflow's limits.

Plain data only (no MLflow import), so that it is cheap to test and to load:

| ours | MLflow |
|---|---|
| experiment name | experiment name (the same) |
| run | a run named `str(run_id)` (RapidFire's web UI sends `Number(runName)` as `run_id`) |
| flattened config | params |
| metrics of each chunk | metrics, `step` = chunks visited |
| progress | tags `rapidfire.progress.current` (chunk of the epoch), `rapidfire.progress.total` |
| NEW / ONGOING / STOPPED / COMPLETED / FAILED | SCHEDULED / RUNNING / KILLED / FINISHED / FAILED |
| KILLED (deleted) | the MLflow run deleted |
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from typing import Any

from rfconsole.db.models import RunRead

STATUS = {
    "NEW": "SCHEDULED",
    "ONGOING": "RUNNING",
    "STOPPED": "KILLED",
    "COMPLETED": "FINISHED",
    "FAILED": "FAILED",
}

# Tags that say which run of ours an MLflow run mirrors: a restarted controller finds it again.
TAG_RUN_ID = "rfconsole.run_id"
TAG_EXPERIMENT = "rfconsole.experiment"
# Chunks whose metrics are in MLflow; written with the last batch of them.
TAG_MIRRORED = "rfconsole.chunks_mirrored"
TAG_PROGRESS_CURRENT = "rapidfire.progress.current"
TAG_PROGRESS_TOTAL = "rapidfire.progress.total"

# MLflow's limits (MLflow 3): entities per log_batch, and lengths.
MAX_BATCH = 1000
MAX_PARAMS = 100
MAX_TAGS = 100
MAX_PARAM_VALUE = 6000
MAX_TAG_VALUE = 8000
MAX_KEY = 250

_NOT_IN_A_NAME = re.compile(r"[^\w./\- :]")


def mlflow_name(name: str) -> str:
    """A metric or param name MLflow accepts: `NDCG@5` -> `NDCG_at_5`, other odd characters -> `_`."""
    cleaned = _NOT_IN_A_NAME.sub("_", name.replace("@", "_at_"))[:MAX_KEY]
    return cleaned or "_"


def param_value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text if len(text) <= MAX_PARAM_VALUE else text[:MAX_PARAM_VALUE - 1] + "…"


def params_of(run: RunRead) -> list[tuple[str, str]]:
    """The flattened config as MLflow params (a name that cleans to a taken one keeps the first)."""
    params: dict[str, str] = {}
    for key, value in run.flattened_config.items():
        params.setdefault(mlflow_name(key), param_value(value))
    return sorted(params.items())


def identity_tags(run: RunRead, experiment_name: str) -> dict[str, str]:
    """Set when the MLflow run is created: which run it mirrors, and its lineage."""
    tags = {TAG_RUN_ID: str(run.run_id), TAG_EXPERIMENT: experiment_name[:MAX_TAG_VALUE],
            "rfconsole.source": run.source}
    if run.parent_run_id is not None:
        tags["rfconsole.parent_run_id"] = str(run.parent_run_id)
        tags["rfconsole.warm_start"] = "true" if run.warm_start else "false"
    return tags


def state_tags(run: RunRead) -> dict[str, str]:
    """Tags that follow the run: progress (as RapidFire's web UI reads it) and any error."""
    tags = {TAG_PROGRESS_CURRENT: str(run.current_chunk), TAG_PROGRESS_TOTAL: str(run.num_chunks)}
    if run.error:
        tags["rfconsole.error"] = run.error[:MAX_TAG_VALUE]
    return tags


def millis(when: datetime) -> int:
    """A stored UTC time as MLflow's milliseconds since the epoch (the same every time it is read)."""
    aware = when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)
    return int(aware.timestamp() * 1000)


Point = tuple[str, float, int, int]  # MLflow metric: name, value, timestamp (ms), step


def batches(points: Sequence[Point], params: Sequence[tuple[str, str]],
            tags: Sequence[tuple[str, str]]) -> Iterator[tuple[list[Point], list[tuple[str, str]],
                                                                list[tuple[str, str]]]]:
    """Split one update into log_batch calls within MLflow's limits. Params come first; the
    tags (which hold the mirrored-chunks mark) go with the last batch, after every point."""
    points, params, tags = list(points), list(params), list(tags)
    while True:
        batch_params = params[:MAX_PARAMS]
        params = params[MAX_PARAMS:]
        last = not params and len(points) + len(tags) <= MAX_BATCH - len(batch_params)
        batch_tags = tags if last else []
        room = MAX_BATCH - len(batch_params) - len(batch_tags)
        yield points[:room], batch_params, batch_tags
        points = points[room:]
        if last:
            return
