"""The MLflow mirror: the experiment, its runs, params, metrics and statuses, copied into MLflow.

    bridge = MlflowBridge(store, experiment_id, "lr-sweep", "http://127.0.0.1:5000")
    bridge.start()
    bridge.mark([3, 4])        # these runs changed (bridge.mark_all(): every run may have)
    bridge.close()             # write what is left, then stop

The controller does not run this in the training process: it starts the mirror
process (`mlflow_process`), which follows the experiment through the database
and marks what changed, so training pays nothing for the HTTP and JSON work
(see `mlflow_supervisor`). Here, a background thread turns marks into "this run
changed" and, at most every `flush_interval` seconds, brings each marked MLflow
run in line with the run's row and metric history in the database: the
database is the truth, the mirror only copies it. So:

- nothing is lost: what could not be written stays marked and is retried with
  backoff (a warning in the experiment log says MLflow is unreachable; one more
  line says when it caught up);
- nothing is duplicated: metrics are sent with their stored timestamp and
  `step` = chunks visited, so a retried batch carries the same points and
  MLflow's SQL store keeps each once; the tag `rfconsole.chunks_mirrored`
  records how far a run's metrics were sent, and MLflow runs are found again by
  their tags `rfconsole.run_id` / `rfconsole.experiment` after a restart
  instead of being made anew.

Needs the MLflow client (`pip install 'rfconsole[mlflow]'`, which brings
`mlflow-skinny`); it is imported in the background thread, never at import time.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from rfconsole.db import InvalidError, NotFoundError, Store, StoreError, experiments, metrics, runs
from rfconsole.db.models import RunRead

from . import events
from . import mlflow_mapping as mapping

LOGGER = logging.getLogger("rfconsole.controller")

INSTALL_HINT = ("Mirroring to MLflow needs the MLflow client; install it with "
                "pip install 'rfconsole[mlflow]' (or pip install mlflow-skinny).")
# Chunks' worth of metric points read and sent per run and pass, to bound memory after an outage.
_CHUNKS_PER_PASS = 500
# A pass that took t seconds is followed by a pause of at least _THROTTLE * t.
_THROTTLE = 49
_MAX_PAUSE = 10.0


def client_installed() -> bool:
    return importlib.util.find_spec("mlflow") is not None


def require_client() -> None:
    """Raise InvalidError (one sentence saying what to install) unless the MLflow client is there."""
    if not client_installed():
        raise InvalidError(INSTALL_HINT)


def shown_uri(uri: str) -> str:
    """The tracking URI without any password, for messages."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def catch_up(store: Store, experiment_name: str, tracking_uri: str, timeout: float = 60.0) -> bool:
    """Bring MLflow in line with an experiment that no controller runs (e.g. one that completed
    while MLflow was away); True when everything was written within `timeout` seconds."""
    with store.read() as session:
        experiment = experiments.get_experiment_by_name(session, experiment_name)
    bridge = MlflowBridge(store, experiment.id, experiment.name, tracking_uri, close_timeout=timeout)
    bridge.start()
    return bridge.close()


class Unreachable(Exception):
    """MLflow could not take a write now; the mirror retries later."""


@dataclass
class _Mirror:
    """What MLflow holds for one of our runs, as far as the bridge knows."""

    mlflow_id: str | None = None
    status: str | None = None
    deleted: bool = False
    params_sent: bool = False
    chunks: int = 0  # chunks whose metrics are in MLflow
    tags: dict[str, str] = field(default_factory=dict)
    look_up: bool = False  # a create may have reached MLflow unanswered: search before creating


class MlflowBridge:
    """Mirrors one experiment into MLflow from a background thread; see the module docstring."""

    def __init__(self, store: Store, experiment_id: int, experiment_name: str, tracking_uri: str, *,
                 report: Callable[[str, str], None] | None = None,
                 flush_interval: float = 1.0, max_backoff: float = 30.0,
                 close_timeout: float = 10.0, client: Any = None) -> None:
        require_client()
        self.store = store
        self.experiment_id = experiment_id
        self.experiment_name = experiment_name
        self.tracking_uri = tracking_uri
        self.report = report or (lambda kind, message: None)
        self.flush_interval = flush_interval
        self.max_backoff = max_backoff
        self.close_timeout = close_timeout
        self._client = client
        self._events: queue.SimpleQueue[int | None] = queue.SimpleQueue()  # a run id; None: all
        self._dirty: set[int] = set()
        self._all_dirty = True  # the first pass brings every run in line
        self._mirrors: dict[int, _Mirror] = {}
        self._mlflow_experiment: str | None = None
        self._found = False  # the experiment's MLflow runs have been looked up by tag
        self._down_since: float | None = None
        self._refused: set[str] = set()  # permanent refusals already reported
        self._idle = threading.Event()
        self._closing = threading.Event()  # write what is left now, without pauses
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._work, name="rfconsole-mlflow", daemon=True)
        self.passes = 0  # successful passes, for tests and the mirror process's last report

    # --- the follower's side --------------------------------------------------

    def mark(self, run_ids: Iterable[int]) -> None:
        """These runs changed: bring their MLflow runs in line. Never blocks."""
        for run_id in run_ids:
            self._events.put(run_id)
        self._idle.clear()  # after the puts: see _work

    def mark_all(self) -> None:
        """Any run may have changed: bring every one in line. Never blocks."""
        self._events.put(None)
        self._idle.clear()

    def start(self) -> None:
        self._thread.start()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until every change seen so far is in MLflow; False on timeout."""
        deadline = time.monotonic() + timeout
        while self._idle.wait(max(0.0, deadline - time.monotonic())):
            if self._events.empty() and self._idle.is_set():
                return True
            if time.monotonic() >= deadline:
                break
            time.sleep(0.01)  # an event slipped in as the thread finished a pass
        return False

    def close(self) -> bool:
        """Write what is left (for up to `close_timeout` seconds) and stop; True if all of it went."""
        if not self._thread.is_alive():
            return self._idle.is_set()
        self._closing.set()
        caught_up = self.wait_idle(self.close_timeout)
        self._stop.set()
        self._thread.join(self.close_timeout + 5)
        if not caught_up:
            self.report(events.MIRROR_WARNING, f"MLflow at {shown_uri(self.tracking_uri)} did not take "
                        f"every change before the controller stopped ({len(self._dirty) or 'some'} "
                        f"runs behind); running the experiment again, or "
                        f"rfconsole.controller.mlflow_bridge.catch_up, writes the rest.")
        return caught_up

    # --- the background thread ------------------------------------------------

    def _work(self) -> None:
        try:
            self._make_client()  # the import takes seconds of CPU: not a pass's, for the pacing
        except Exception as exc:
            LOGGER.exception("the MLflow client could not be set up")
            self.report(events.MIRROR_WARNING, f"The MLflow client could not be set up for "
                        f"{shown_uri(self.tracking_uri)} ({exc}); the experiment is not mirrored.")
            return
        backoff = 0.0
        due = 0.0  # monotonic time of the next pass
        while not self._stop.is_set():
            if not self._dirty and not self._all_dirty:
                self._take_events(None)  # nothing to do: wait for a change
                due = max(due, time.monotonic() + self.flush_interval)
            self._take_events(due - time.monotonic())  # let changes gather into one pass
            if self._stop.is_set():
                return
            began = time.monotonic()
            try:
                self._pass()
            except Exception as exc:  # MLflow away, or a bug here: never reaches training
                if not isinstance(exc, Unreachable):
                    LOGGER.exception("the MLflow mirror failed; it retries")
                backoff = min(self.max_backoff, max(1.0, backoff * 2))
                due = time.monotonic() + backoff
                self._went_down(str(exc) or type(exc).__name__, backoff)
                continue
            backoff = 0.0
            # The server works on our requests while a pass waits for its answers, so a pass that
            # took t seconds (wall) waits 49t, up to _MAX_PAUSE: the mirror and the server are busy
            # about a fiftieth of the time at most (unless a pass takes over a fifth of a second),
            # and the runs' changes meanwhile gather into the next pass's batches.
            pause = min(_MAX_PAUSE, _THROTTLE * (time.monotonic() - began))
            due = time.monotonic() + max(self.flush_interval, pause)
            self.passes += 1
            self._came_back()
            if not self._dirty and not self._all_dirty and self._events.empty():
                self._idle.set()
                if not self._events.empty():  # an event came in meanwhile (it clears after its put)
                    self._idle.clear()

    def _take_events(self, timeout: float | None) -> None:
        """Turn queued events into marks: until `timeout` seconds have passed (sooner once
        closing, unless MLflow is away), or (None) until the first event or a stop."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._stop.is_set():
            wait = 0.1
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0 or (self._closing.is_set() and self._down_since is None):
                    self._drain()
                    return
                wait = min(wait, left)
            try:
                self._mark(self._events.get(timeout=wait))
            except queue.Empty:
                continue
            self._drain()
            if deadline is None:
                return

    def _drain(self) -> None:
        """Mark what is already queued, without waiting."""
        while True:
            try:
                self._mark(self._events.get_nowait())
            except queue.Empty:
                return

    def _mark(self, run_id: int | None) -> None:
        if run_id is None:
            self._all_dirty = True
        else:
            self._dirty.add(run_id)

    # --- one pass: bring the marked runs in line -----------------------------------

    def _pass(self) -> None:
        client = self._connect()
        self._find_runs(client)
        with self.store.read() as session:
            if self._all_dirty:
                rows = runs.list_runs(session, experiment_id=self.experiment_id)
                self._all_dirty = False
            else:
                rows = []
                for run_id in sorted(self._dirty):
                    try:
                        rows.append(runs.get_run(session, run_id))
                    except NotFoundError:
                        self._dirty.discard(run_id)
        self._dirty.update(row.run_id for row in rows)
        for row in rows:
            try:
                in_line = row.experiment_id != self.experiment_id or self._sync_run(client, row)
            except _Refused:
                in_line = True  # reported; retried only when the run changes again
            if in_line:
                self._dirty.discard(row.run_id)

    def _make_client(self) -> None:
        if self._client is None:
            # MLflow's own client retries for minutes by default; this mirror retries itself.
            os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
            os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
            # MLflow 3's client sends usage reports unless told not to (before its first import:
            # it decides then); a user who wants them sets the variable to false.
            os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
            from mlflow.entities import Metric, Param, RunTag, ViewType  # noqa: F401
            from mlflow.tracking import MlflowClient

            self._client = MlflowClient(tracking_uri=self.tracking_uri)

    def _connect(self) -> Any:
        self._make_client()
        if self._mlflow_experiment is None:
            self._mlflow_experiment = self._call(self._ensure_experiment, self._client,
                                                 self.experiment_name)
        return self._client

    @staticmethod
    def _ensure_experiment(client: Any, name: str) -> str:
        found = client.get_experiment_by_name(name)
        if found is None:
            try:
                return str(client.create_experiment(name))
            except Exception:  # created meanwhile by another process: use that one
                found = client.get_experiment_by_name(name)
                if found is None:
                    raise
        if found.lifecycle_stage == "deleted":
            client.restore_experiment(found.experiment_id)
        return str(found.experiment_id)

    def _find_runs(self, client: Any) -> None:
        """Once: the MLflow runs that mirror ours (deleted ones too), by their tags."""
        if self._found:
            return
        from mlflow.entities import ViewType

        token = None
        while True:
            page = self._call(client.search_runs, [self._mlflow_experiment], "",
                              ViewType.ALL, 1000, None, token)
            for found in page:
                self._adopt(found)
            token = page.token
            if not token:
                break
        self._found = True

    def _adopt(self, found: Any) -> None:
        tags = found.data.tags
        if tags.get(mapping.TAG_EXPERIMENT) != self.experiment_name:
            return
        try:
            run_id = int(tags.get(mapping.TAG_RUN_ID, ""))
        except ValueError:
            return
        deleted = found.info.lifecycle_stage == "deleted"
        mirror = self._mirrors.setdefault(run_id, _Mirror())
        if mirror.mlflow_id is not None and (deleted or not mirror.deleted):
            return  # keep the first live one
        mirror.mlflow_id, mirror.status, mirror.deleted = found.info.run_id, found.info.status, deleted
        mirror.params_sent = bool(found.data.params)
        mirror.tags = dict(tags)
        mirror.chunks = int(tags.get(mapping.TAG_MIRRORED, "0") or 0)

    def _sync_run(self, client: Any, run: RunRead) -> bool:
        """Bring one MLflow run in line; True when it is (False: more metrics to send)."""
        mirror = self._mirrors.setdefault(run.run_id, _Mirror())
        if run.status == "KILLED":
            if mirror.mlflow_id is None and mirror.look_up:
                self._look_up(client, run.run_id, mirror)
            if mirror.mlflow_id is not None and not mirror.deleted:
                self._call(client.delete_run, mirror.mlflow_id)
                mirror.deleted = True
            return True
        if mirror.deleted:
            return True  # deleted in MLflow by someone: leave it so
        if mirror.mlflow_id is None:
            self._create(client, run, mirror)
        if run.metric_run_id != mirror.mlflow_id:  # shown as metric_run_id by the dispatcher
            try:
                runs.set_metric_run_id(self.store, run.run_id, mirror.mlflow_id)
            except StoreError as exc:  # the database busy: set again with the run's next change
                LOGGER.warning("could not record run %s's MLflow id: %s", run.run_id, exc.message)
        through = min(run.num_chunks_visited, mirror.chunks + _CHUNKS_PER_PASS)
        points: list[mapping.Point] = []
        if through > mirror.chunks:
            with self.store.read() as session:
                rows = metrics.points_by_chunk(session, run_id=run.run_id, num_chunks=run.num_chunks,
                                               after=mirror.chunks, through=through)
            points = [(mapping.mlflow_name(name), value, mapping.millis(when), position)
                      for position, name, value, when in rows]
        params = [] if mirror.params_sent else mapping.params_of(run)
        wanted = mapping.state_tags(run)
        if through > mirror.chunks:
            wanted[mapping.TAG_MIRRORED] = str(through)
        tags = [(key, value) for key, value in wanted.items() if mirror.tags.get(key) != value]
        if points or params or tags:
            self._send(client, mirror.mlflow_id, points, params, tags)
            mirror.params_sent = True
            mirror.tags.update(tags)
            mirror.chunks = max(mirror.chunks, through)
        status = mapping.STATUS.get(run.status)
        if status is not None and status != mirror.status:
            self._call(client.update_run, mirror.mlflow_id, status)
            mirror.status = status
        return mirror.chunks >= run.num_chunks_visited

    def _create(self, client: Any, run: RunRead, mirror: _Mirror) -> None:
        if mirror.look_up and self._look_up(client, run.run_id, mirror):
            return
        mirror.look_up = True  # until the answer is in hand
        created = self._call(client.create_run, self._mlflow_experiment,
                             mapping.millis(run.created_at),
                             mapping.identity_tags(run, self.experiment_name), str(run.run_id))
        mirror.mlflow_id, mirror.status, mirror.look_up = created.info.run_id, "RUNNING", False
        mirror.tags.update(created.data.tags)

    def _look_up(self, client: Any, run_id: int, mirror: _Mirror) -> bool:
        from mlflow.entities import ViewType

        page = self._call(client.search_runs, [self._mlflow_experiment],
                          f"tags.`{mapping.TAG_RUN_ID}` = '{run_id}'", ViewType.ALL, 10)
        for found in page:
            self._adopt(found)
        mirror.look_up = False
        return mirror.mlflow_id is not None

    def _send(self, client: Any, mlflow_id: str | None, points: list[mapping.Point],
              params: list[tuple[str, str]], tags: list[tuple[str, str]]) -> None:
        from mlflow.entities import Metric, Param, RunTag

        for batch_points, batch_params, batch_tags in mapping.batches(points, params, tags):
            self._call(client.log_batch, mlflow_id,
                       [Metric(key, value, stamp, step) for key, value, stamp, step in batch_points],
                       [Param(key, value) for key, value in batch_params],
                       [RunTag(key, value) for key, value in batch_tags])

    def _call(self, method: Callable[..., Any], *args: Any) -> Any:
        """Call the MLflow client; a refusal of the request itself (4xx) is reported once and
        skipped, anything else (no answer, 5xx, 429) means retry later."""
        try:
            return method(*args)
        except Exception as exc:
            status = _http_status(exc)
            if status is not None and 400 <= status < 500 and status not in (401, 403, 408, 429):
                text = " ".join(str(exc).split())[:300]
                if text not in self._refused:
                    self._refused.add(text)
                    self.report(events.MIRROR_WARNING, f"MLflow refused a write and it is skipped: {text}")
                raise _Refused(text) from exc
            raise Unreachable(" ".join(str(exc).split())[:300]) from exc

    def _went_down(self, reason: str, retry_in: float) -> None:
        if self._down_since is None:
            self._down_since = time.monotonic()
            self.report(events.MIRROR_WARNING,
                        f"MLflow at {shown_uri(self.tracking_uri)} cannot be reached ({reason}); "
                        f"training goes on, and the changes are kept and retried (next in "
                        f"{retry_in:.0f} s, then with growing pauses).")

    def _came_back(self) -> None:
        if self._down_since is not None:
            away = time.monotonic() - self._down_since
            self._down_since = None
            self.report(events.MIRROR_INFO, f"MLflow at {shown_uri(self.tracking_uri)} is reachable "
                        f"again after {away:.0f} s; the runs' changes meanwhile were written.")


class _Refused(Exception):
    """MLflow refused one write as malformed; it is skipped, not retried."""


def _http_status(exc: BaseException) -> int | None:
    getter = getattr(exc, "get_http_status_code", None)
    if callable(getter):
        try:
            code = getter()
        except Exception:
            return None
        return code if isinstance(code, int) else None
    return None
