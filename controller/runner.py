"""The experiment runner: round-robin chunks over the live runs, apply IC ops in between.

    controller = Controller(store, "lr-sweep", configs, MyTrainer(), num_chunks=12, num_epochs=3)
    controller.run()            # blocks until every run is terminal, or request_end()

The live runs are kept in memory; the database is the record. After each chunk
one write transaction claims the pending ops and writes the run's progress, its
latest metrics and their history; nothing scans all runs per chunk. Runs change
outside the controller only through ops (a delete marks the run KILLED, a clone
creates a NEW run), so the ops are all the reconciling there is to do.
"""

from __future__ import annotations

import heapq
import json
import logging
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

from rfconsole.db import (
    ConflictError,
    ExperimentRead,
    ICOpRead,
    InvalidError,
    NotFoundError,
    RunRead,
    Store,
    experiments,
    ic_ops,
    runs,
)
from rfconsole.db import (
    configs as db_configs,
)

from . import bookkeeping, events, mlflow_bridge
from .checkpoints import CheckpointStore
from .chunks import ChunkOutcome, ChunkTrainer
from .interrupts import InterruptWatch
from .live import ENDED_BY_CANCEL, LiveRun, error_text, progress_fields
from .ops import OpExecutor
from .paths import ExperimentLock, fresh_experiment_folder
from .trainer import Trainer

LOGGER = logging.getLogger("rfconsole.controller")


class Controller:
    """Runs one experiment; see the module docstring. `run()` once per instance."""

    def __init__(
        self,
        store: Store,
        experiment_name: str,
        configs: Sequence[Mapping[str, Any]],
        trainer: Trainer,
        *,
        num_chunks: int = 1,
        num_epochs: int = 1,
        workers: int = 1,
        config_schema: Mapping[str, Any] | None = None,
        experiment_path: str | Path | None = None,
        pace: float = 0.0,
        on_event: events.EventListener | None = None,
        poll_interval: float = 0.1,
        mlflow_tracking_uri: str | None = None,
    ) -> None:
        if workers < 1:
            raise InvalidError("workers must be at least 1.")
        if mlflow_tracking_uri:
            mlflow_bridge.require_client()
        if pace < 0:
            raise InvalidError("pace must be zero or more seconds.")
        missing = [name for name in ("create_model", "train_chunk", "get_state", "set_state")
                   if not callable(getattr(trainer, name, None))]
        if missing:
            raise InvalidError(f"The trainer {type(trainer).__name__} has no {missing[0]} method; "
                               f"see rfconsole.controller.Trainer.")
        self.store = store
        self.trainer = trainer
        self.workers = workers
        self.pace = pace
        self.poll_interval = poll_interval
        schema = config_schema if config_schema is not None else getattr(
            trainer, "config_schema", None)
        self.experiment = self._open_experiment(
            experiment_name, configs, num_chunks, num_epochs, schema, experiment_path
        )
        self.experiment_id = self.experiment.id
        self.experiment_name = self.experiment.name
        self.experiment_path = Path(self.experiment.experiment_path)
        self.shape = (self.experiment.num_chunks, self.experiment.num_epochs)
        self.total_chunks = self.experiment.num_chunks * self.experiment.num_epochs
        self.checkpoints = CheckpointStore(
            self.experiment_path, keep_in_memory=getattr(trainer, "checkpoints_in_memory", True))
        self.reporter = events.EventReporter(self.experiment_path, self.experiment_name, on_event)
        self.mirror: mlflow_bridge.MlflowBridge | None = None
        if mlflow_tracking_uri:
            self.mirror = mlflow_bridge.MlflowBridge(
                store, self.experiment_id, self.experiment_name, mlflow_tracking_uri,
                report=lambda kind, message: self.reporter.emit(kind, message))
            self.reporter.listeners.append(self.mirror.on_event)
        self._end_requested = threading.Event()
        self.watch = InterruptWatch(store, self.experiment_id, self._end_requested, poll_interval)
        self.live: dict[int, LiveRun] = {}
        self._queue: list[tuple[int, int]] = []  # (position, run id); may hold stale entries
        self.stopped: set[int] = set()
        self.busy: set[int] = set()
        self._in_flight: dict[Future[ChunkOutcome], int] = {}
        self._ops = OpExecutor(self)
        self._chunks = ChunkTrainer(trainer, self.checkpoints, self.watch, self.shape, pace,
                                    self._end_requested)
        self._started = False
        self._said_waiting = False

    # --- public ----------------------------------------------------------------

    def request_end(self) -> None:
        """Ask run() to end the experiment as `cancelled`, runs resumable; thread-safe."""
        self._end_requested.set()

    @property
    def end_requested(self) -> bool:
        return self._end_requested.is_set()

    def run(self) -> ExperimentRead:
        """Train until every run is terminal (completed) or an end is requested (cancelled)."""
        if self._started:
            raise RuntimeError("A Controller runs once; make a new one to resume the experiment.")
        self._started = True
        lock = ExperimentLock(self.experiment_path, self.experiment_name)
        lock.acquire()
        try:
            with events.tracebacks_to_file(self.experiment_path):
                if self.mirror is not None:
                    self.mirror.start()
                try:
                    return self._run()
                finally:
                    if self.mirror is not None:
                        self.mirror.close()
        finally:
            lock.release()

    def _run(self) -> ExperimentRead:
        pool = ThreadPoolExecutor(self.workers, thread_name_prefix="rfconsole-chunk")
        try:
            self._load_runs()
            self.reporter.emit(events.EXPERIMENT_STARTED, f"Experiment {self.experiment_name!r} "
                               f"started with {len(self.live)} live runs, {len(self.stopped)} "
                               f"stopped, {self.workers} worker(s).")
            self._poll_ops()
            return self._loop(pool)
        except KeyboardInterrupt:
            self._end_requested.set()
            self._drain()
            self._finish("cancelled")
            raise
        except BaseException as exc:
            LOGGER.exception("the controller of %r failed", self.experiment_name)
            self._end_requested.set()
            try:
                self._drain(record=False)
                self._finish("failed", error=error_text(exc))
            except Exception:  # the database itself may be what failed
                LOGGER.exception("could not record the failure of %r", self.experiment_name)
            raise
        finally:
            pool.shutdown(wait=True)

    # --- setup -----------------------------------------------------------------

    def _open_experiment(self, name: str, configs: Sequence[Mapping[str, Any]], num_chunks: int,
                         num_epochs: int, schema: Mapping[str, Any] | None,
                         experiment_path: str | Path | None) -> ExperimentRead:
        """Create the experiment and its runs, or reopen an unfinished one of that name."""
        with self.store.write() as session:
            try:
                existing = experiments.get_experiment_by_name(session, name)
            except NotFoundError:
                existing = None
            if existing is not None:
                if existing.status == "completed":
                    raise ConflictError(f"Experiment {name!r} has already completed; "
                                        f"start a new one under another name.")
                return experiments.set_experiment_status(session, existing.id, "running")
            if not configs:
                raise InvalidError("An experiment needs at least one config.")
            for index, config in enumerate(configs):
                try:
                    db_configs.validate_config(dict(config) if isinstance(config, Mapping)
                                               else config, dict(schema) if schema else None)
                except InvalidError as exc:
                    raise InvalidError(f"Config {index + 1}: {exc.message}") from None
            path = fresh_experiment_folder(self.store, name, experiment_path)
            experiment = experiments.create_experiment(
                session, name=name, experiment_path=str(path), num_chunks=num_chunks,
                num_epochs=num_epochs, config={"num_chunks": num_chunks, "num_epochs": num_epochs,
                                            "workers": self.workers,
                                            "trainer": type(self.trainer).__name__},
                config_schema=dict(schema) if schema else None)
            for config in configs:
                runs.create_run(session, experiment_id=experiment.id, config_leaf=dict(config),
                                num_chunks=num_chunks, num_epochs=num_epochs)
            return experiment

    def add_live(self, live: LiveRun) -> None:
        """Put a run (back) into the rotation."""
        self.live[live.run_id] = live
        self._enqueue(live)

    def _enqueue(self, live: LiveRun) -> None:
        # The least-advanced run trains next: a heap of (position, run id), so that
        # picking it costs O(log n) rather than a scan of every live run per chunk.
        heapq.heappush(self._queue, (live.position, live.run_id))

    def live_run_from(self, run: RunRead) -> LiveRun:
        """A run back in rotation, at its checkpoint's position (0 without one)."""
        checkpoint = self.checkpoints.load(run.run_id, run.checkpoint_path)
        if checkpoint is None:
            return LiveRun.from_read(run, 0, 0)
        return LiveRun.from_read(run, checkpoint.position, checkpoint.completed_steps)

    def _load_runs(self) -> None:
        """Rebuild the rotation from the database (a fresh start, a restart or a resume)."""
        # One write transaction: no request can change a run between reading and correcting it.
        with self.store.write() as session:
            all_runs = runs.list_runs(session, experiment_id=self.experiment_id)
            pending = ic_ops.list_pending(session, experiment_id=self.experiment_id)
            # A clone's run row exists before its op is applied; the op starts it.
            unstarted_clones = {op.new_run_id for op in pending if op.operation == "CLONE_MODIFY"}
            for run in all_runs:
                if run.run_id in unstarted_clones:
                    continue
                back_from_cancel = run.status == "STOPPED" and run.ended_by == ENDED_BY_CANCEL
                if run.status in ("NEW", "ONGOING") or back_from_cancel:
                    live = self.live_run_from(run)
                    self.add_live(live)
                    fields: dict[str, Any] = {}
                    if live.position != run.num_chunks_visited:  # the checkpoint is the truth
                        fields.update(progress_fields(live.position, *self.shape),
                                      completed_steps=live.completed_steps)
                    if back_from_cancel:
                        fields.update(status="ONGOING", ended_by=None)
                    if fields:
                        runs.update_run(session, run.run_id, **fields)
                elif run.status == "STOPPED":
                    self.stopped.add(run.run_id)

    # --- the loop --------------------------------------------------------------

    def _loop(self, pool: ThreadPoolExecutor) -> ExperimentRead:
        while True:
            if self._end_requested.is_set():
                self._drain()
                return self._finish("cancelled")
            self._launch(pool)
            if not self._in_flight:
                if not self.live and not self.stopped and self._try_complete():
                    return self._finish("completed")
                if not self.live and self.stopped and not self._said_waiting:
                    self._said_waiting = True
                    self.reporter.emit(events.EXPERIMENT_WAITING, f"Only stopped runs are left "
                                       f"({len(self.stopped)}); waiting for a resume or a clone.")
                self._end_requested.wait(self.poll_interval)
                self._poll_ops()
                continue
            done, _ = wait(list(self._in_flight), timeout=self.poll_interval,
                           return_when=FIRST_COMPLETED)
            if done:
                self._record(done)
            else:
                self._poll_ops()

    def _launch(self, pool: ThreadPoolExecutor) -> None:
        """Start chunks of the least-advanced idle runs, up to `workers` at once."""
        free = self.workers - len(self._in_flight)
        while free > 0 and self._queue:
            position, run_id = heapq.heappop(self._queue)
            live = self.live.get(run_id)
            if live is None or run_id in self.busy or live.position != position:
                continue  # a stale entry: the run left the rotation or moved on
            if (live.status == "NEW" or not live.announced) and not self._announce(live):
                self.live.pop(run_id, None)  # deleted before it started; its op will settle it
                continue
            free -= 1
            self.busy.add(live.run_id)
            self._said_waiting = False
            self._in_flight[pool.submit(self._chunks.train, live)] = live.run_id

    def _announce(self, live: LiveRun) -> bool:
        """Mark a NEW run ONGOING and say it started; False if it is no longer NEW (deleted)."""
        if live.status == "NEW":
            with self.store.write() as session:
                connection = session.connection()
                if not bookkeeping.start_run(connection, live.run_id):
                    return False
                bookkeeping.bump_revision(connection, self.experiment_id)
            live.status = "ONGOING"
        where = "from the start" if live.position == 0 else "continuing"
        self.reporter.emit(events.RUN_STARTED,
                           f"Started run {live.run_id}{live.lineage} {where} at chunk "
                           f"{live.position + 1} of {self.total_chunks} with config "
                           f"{json.dumps(live.config)}.",
                           run_id=live.run_id)
        live.announced = True
        return True

    # --- after chunks ------------------------------------------------------------

    def _record(self, done: set[Future[ChunkOutcome]]) -> None:
        """Write finished chunks and claim pending ops in one transaction, then apply the ops."""
        outcomes = [self._collect(future) for future in done]
        ops: list[ICOpRead] = []
        with self.store.write() as session:
            connection = session.connection()
            if bookkeeping.has_pending_ops(connection, self.experiment_id):
                ops = ic_ops.claim_pending(session, experiment_id=self.experiment_id)
            deleted = {op.run_id for op in ops if op.operation == "DELETE"}
            finished = [(outcome, self._write_outcome(connection, outcome))
                        for outcome in outcomes if outcome.run_id not in deleted]
            bookkeeping.bump_revision(connection, self.experiment_id)
        for outcome, ended in finished:
            self._after_outcome(outcome, ended)
        if ops:
            self._ops.apply_all(ops)

    def _collect(self, future: Future[ChunkOutcome]) -> ChunkOutcome:
        run_id = self._in_flight.pop(future)
        self.busy.discard(run_id)
        return future.result()  # ChunkTrainer.train catches the trainer's errors itself

    def _write_outcome(self, connection: Any, outcome: ChunkOutcome) -> bool:
        """Write one chunk's result; True when the run ended with it."""
        live = self.live.get(outcome.run_id)
        if live is None or outcome.interrupted:
            return False
        if outcome.error is not None:
            bookkeeping.write_progress(connection, outcome.run_id, {
                "status": "FAILED", "error": outcome.error, "ended_by": "controller"})
            return True
        position = live.position + 1
        steps = live.completed_steps + outcome.steps
        completed = position >= self.total_chunks
        fields: dict[str, Any] = progress_fields(position, *self.shape)
        fields.update(metrics=outcome.metrics, completed_steps=steps,
                      total_steps=steps + outcome.steps * (self.total_chunks - position),
                      checkpoint_path=outcome.checkpoint_path)
        if completed:
            fields.update(status="COMPLETED", ended_by="controller")
        bookkeeping.write_progress(connection, outcome.run_id, fields)
        bookkeeping.append_history(connection, [
            {"run_id": outcome.run_id, "epoch": fields["current_epoch"],
             "chunk": fields["current_chunk"], "step": steps, "name": name, "value": value}
            for name, value in outcome.metrics.items()])
        return completed

    def _after_outcome(self, outcome: ChunkOutcome, ended: bool) -> None:
        """Bring the in-memory rotation in line with what was just written, and say it."""
        live = self.live.get(outcome.run_id)
        if live is None:
            return
        if outcome.interrupted:
            self._enqueue(live)
            return
        run_id = outcome.run_id
        if outcome.error is not None:
            self.live.pop(run_id, None)
            self.reporter.emit(events.RUN_FAILED, f"Run {run_id} failed: {outcome.error}",
                               run_id=run_id)
            return
        live.position += 1
        live.completed_steps += outcome.steps
        num_chunks = self.shape[0]
        text = ", ".join(f"{name}={value:.4g}" for name, value in outcome.metrics.items())
        self.reporter.emit(
            events.CHUNK_DONE,
            f"Run {run_id} finished chunk {(live.position - 1) % num_chunks + 1}/{num_chunks} of "
            f"epoch {(live.position - 1) // num_chunks + 1}/{self.shape[1]}: {text}",
            run_id=run_id, metrics=outcome.metrics,
            details={"position": live.position, "started": outcome.started, "ended": outcome.ended})
        if ended:
            self.live.pop(run_id, None)
            self.checkpoints.forget(run_id)
            self.reporter.emit(events.RUN_COMPLETED, f"Run {run_id} completed: {text}",
                               run_id=run_id, metrics=outcome.metrics)
        else:
            self._enqueue(live)

    def _poll_ops(self) -> None:
        """Claim and apply pending ops, if a cheap read says there are new ones."""
        with self.store.read() as session:
            pending = ic_ops.list_pending(session, experiment_id=self.experiment_id)
        if not pending or all(op.run_id in self.busy and op.operation in ("STOP", "DELETE")
                              for op in pending):
            return
        with self.store.write() as session:
            ops = ic_ops.claim_pending(session, experiment_id=self.experiment_id)
        self._ops.apply_all(ops)

    # --- the end ---------------------------------------------------------------

    def _try_complete(self) -> bool:
        """Complete the experiment unless an op slipped in; the check and the status are atomic."""
        with self.store.write() as session:
            ops = ic_ops.claim_pending(session, experiment_id=self.experiment_id)
            if not ops:
                experiments.set_experiment_status(session, self.experiment_id, "completed")
                return True
        self._ops.apply_all(ops)
        return False

    def _drain(self, record: bool = True) -> None:
        """Wait for the chunks in flight (they are told to stop) and keep the finished ones."""
        if not self._in_flight:
            return
        done, _ = wait(list(self._in_flight))
        if record:
            self._record(done)
        else:
            for future in done:
                self._collect(future)

    def _finish(self, status: str, error: str | None = None) -> ExperimentRead:
        """End the experiment; on cancel, leave the ONGOING runs STOPPED for a restart."""
        resumable = [live.run_id for live in self.live.values() if live.status == "ONGOING"]
        with self.store.write() as session:
            if status != "completed":
                for run_id in resumable:
                    if runs.get_run(session, run_id).status == "ONGOING":
                        runs.update_run(session, run_id, status="STOPPED", ended_by=ENDED_BY_CANCEL)
                experiment = experiments.set_experiment_status(
                    session, self.experiment_id, status, error=error)
            else:
                experiment = experiments.get_experiment(session, self.experiment_id)
            totals = runs.count_runs(session, experiment_id=self.experiment_id)
        if status == "completed":
            message = f"Experiment {self.experiment_name!r} completed ({totals} runs)."
        elif status == "cancelled":
            message = (f"Experiment {self.experiment_name!r} cancelled; {len(self.live)} runs "
                       f"left to resume on restart.")
        else:
            message = f"Experiment {self.experiment_name!r} failed: {error}"
        self.reporter.emit(events.EXPERIMENT_ENDED, message, details={"status": status})
        return experiment
