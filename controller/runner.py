"""The experiment runner: round-robin chunks over the live runs, apply IC ops in between.

    controller = Controller(store, "lr-sweep", configs, MyTrainer(), num_chunks=12, num_epochs=3)
    controller.run()            # blocks until every run is terminal, or request_end()

The live runs are kept in memory (a `Rotation`); the database is the record.
Each turn of the loop reads the experiment's pending ops once, and that read
serves everyone: the chunk writes (in the same transaction, so a chunk of a
run deleted meanwhile is not written), the cooperative stop check of the
workers, and the op executor. Nothing scans all runs per chunk. Runs change
outside the controller only through ops (a delete marks the run KILLED, a clone
creates a NEW run), so the ops are all the reconciling there is to do.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from pathlib import Path
from typing import Any

from rfconsole.db import (
    ExperimentRead,
    InvalidError,
    Store,
    experiments,
    progress,
    runs,
)

from . import events, mlflow_bridge, mlflow_supervisor, opening
from .checkpoints import CheckpointStore
from .chunks import ChunkOutcome
from .context import ExperimentContext
from .executors import make_executor
from .heartbeat import Heartbeat
from .interrupts import InterruptWatch
from .live import ENDED_BY_CANCEL, LiveRun, error_text, progress_fields
from .ops import OpExecutor
from .paths import ExperimentLock
from .restarts import restart_or_fail
from .rotation import Rotation
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
        executor: str = "threads",
        ray_address: str | None = None,
        resources_per_run: Mapping[str, Any] | None = None,
        max_restarts: int = 3,
    ) -> None:
        if workers < 1:
            raise InvalidError("workers must be at least 1.")
        if mlflow_tracking_uri:
            mlflow_bridge.require_client()
        if max_restarts < 0:
            raise InvalidError("max_restarts must be zero or more.")
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
        self.max_restarts = max_restarts
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
        # With Ray the actors write the checkpoints: a copy in this process would be stale.
        self.checkpoints = CheckpointStore(
            self.experiment_path,
            keep_in_memory=executor == "threads" and getattr(trainer, "checkpoints_in_memory", True))
        self.executor = make_executor(
            executor, trainer=trainer, checkpoints=self.checkpoints, workers=workers,
            shape=self.shape, pace=pace, ray_address=ray_address,
            resources_per_run=resources_per_run)
        self.reporter = events.EventReporter(self.experiment_path, self.experiment_name, on_event)
        # The MLflow mirror is a process of its own that follows the database: training does
        # no MLflow work (see mlflow_supervisor).
        self.mirror: mlflow_supervisor.MirrorProcess | None = None
        if mlflow_tracking_uri:
            self.mirror = mlflow_supervisor.MirrorProcess(
                store, self.experiment_id, self.experiment_name, self.experiment_path,
                mlflow_tracking_uri, report=lambda kind, message: self.reporter.emit(kind, message))
        self._end_requested = threading.Event()
        self.watch = InterruptWatch(self._end_requested)
        self.rotation = Rotation()
        self.context = ExperimentContext(store, self.experiment_id, trainer, self.shape,
                                         self.checkpoints, self.reporter, self.watch, self.executor)
        self._in_flight: dict[Future[ChunkOutcome], int] = {}
        self._ops = OpExecutor(self.context, self.rotation)
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
            self.executor.start(self.watch, self._end_requested)
        except BaseException:
            lock.release()
            raise
        try:
            # The heartbeat has its own thread: a long chunk or a wait never delays it.
            with Heartbeat(self._beat), events.tracebacks_to_file(self.experiment_path):
                if self.mirror is not None:
                    self.mirror.start()
                try:
                    return self._run()
                finally:
                    if self.mirror is not None:
                        self.mirror.close()
        finally:
            self.executor.close()
            lock.release()

    def _beat(self) -> None:
        experiments.record_heartbeat(self.store, self.experiment_id)

    def _run(self) -> ExperimentRead:
        try:
            self._load_runs()
            self.reporter.emit(events.EXPERIMENT_STARTED, f"Experiment {self.experiment_name!r} "
                               f"started with {len(self.rotation.live)} live runs, "
                               f"{len(self.rotation.stopped)} stopped, {self.workers} worker(s).")
            self._turn(set())
            return self._loop()
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

    # --- setup -----------------------------------------------------------------

    def _open_experiment(self, name: str, configs: Sequence[Mapping[str, Any]], num_chunks: int,
                         num_epochs: int, schema: Mapping[str, Any] | None,
                         experiment_path: str | Path | None) -> ExperimentRead:
        return opening.open_experiment(
            self.store, name, configs, num_chunks=num_chunks, num_epochs=num_epochs,
            schema=schema, experiment_path=experiment_path,
            described={"workers": self.workers, "trainer": type(self.trainer).__name__})

    def _load_runs(self) -> None:
        """Rebuild the rotation from the database (a fresh start, a restart or a resume)."""
        failed = opening.load_rotation(self.context, self.rotation)
        for run_id, reason in failed.items():
            self.reporter.emit(events.RUN_FAILED, f"Run {run_id} failed: {reason}", run_id=run_id)

    # --- the loop --------------------------------------------------------------

    def _loop(self) -> ExperimentRead:
        rotation = self.rotation
        while True:
            if self._end_requested.is_set():
                self._drain()
                return self._finish("cancelled")
            self._launch()
            if self._in_flight:
                done, _ = wait(list(self._in_flight), timeout=self.poll_interval,
                               return_when=FIRST_COMPLETED)
                self._turn(done)
                continue
            if not rotation.live and not rotation.stopped and self._try_complete():
                return self._finish("completed")
            if not rotation.live and rotation.stopped and not self._said_waiting:
                self._said_waiting = True
                self.reporter.emit(events.EXPERIMENT_WAITING, f"Only stopped runs are left "
                                   f"({len(rotation.stopped)}); waiting for a resume or a clone.")
            self._end_requested.wait(self.poll_interval)
            self._turn(set())

    def _launch(self) -> None:
        """Start chunks of the least-advanced idle runs, up to `workers` at once."""
        free = self.workers - len(self._in_flight)
        while free > 0:
            live = self.rotation.pop_idle()
            if live is None:
                return
            if (live.status == "NEW" or not live.announced) and not self._announce(live):
                self.rotation.remove(live.run_id)  # deleted before it started; its op settles it
                continue
            free -= 1
            self.rotation.busy.add(live.run_id)
            self._said_waiting = False
            self._in_flight[self.executor.submit(live)] = live.run_id

    def _announce(self, live: LiveRun) -> bool:
        """Mark a NEW run ONGOING and say it started; False if it is no longer NEW (deleted)."""
        if live.status == "NEW":
            with self.store.write() as session:
                if not progress.start_run(session, live.run_id):
                    return False
            live.status = "ONGOING"
        where = "from the start" if live.position == 0 else "continuing"
        self.reporter.emit(events.RUN_STARTED,
                           f"Started run {live.run_id}{live.lineage} {where} at chunk "
                           f"{live.position + 1} of {self.total_chunks} with config "
                           f"{json.dumps(live.config)}.",
                           run_id=live.run_id)
        live.announced = True
        return True

    # --- one turn: record the finished chunks, read the pending ops once, apply them ------

    def _turn(self, done: set[Future[ChunkOutcome]]) -> None:
        """Write finished chunks and read the pending ops in one transaction, then apply them.

        The one read of pending ops per turn: it decides which chunks are written
        (not those of a run being deleted), feeds the workers' stop check, and is
        what the op executor applies. Ops are stamped claimed once, when first seen.
        """
        outcomes = [self._collect(future) for future in done]
        outcomes = [restart_or_fail(outcome, self.rotation.live.get(outcome.run_id), self.max_restarts,
                                    self.reporter) for outcome in outcomes]
        written: set[int] = set()
        deleted: set[int] = set()
        if outcomes:
            with self.store.write() as session:
                pending = progress.pending_ops(session, self.experiment_id)
                deleted = {op.run_id for op in pending if op.operation == "DELETE"}
                records = [record for outcome in outcomes if outcome.run_id not in deleted
                           and (record := self._record_of(outcome)) is not None]
                progress.record_chunks(session, self.experiment_id, records)
                progress.claim(session, pending)
                written = {record.run_id for record in records}
        else:
            with self.store.read() as session:
                pending = progress.pending_ops(session, self.experiment_id)
            if any(op.claimed_at is None for op in pending):
                with self.store.write() as session:
                    progress.claim(session, pending)
        self.watch.update(pending)
        for outcome in outcomes:
            if outcome.run_id in written:
                self._after_outcome(outcome)
            elif outcome.run_id not in deleted and outcome.run_id in self.rotation:
                # an interrupted chunk: thrown away, the run trains it again from its checkpoint
                self.rotation.enqueue(self.rotation.live[outcome.run_id])
        if pending:
            self._ops.apply_all(pending)
        self._sync_executor()

    def _sync_executor(self) -> None:
        """Tell the executor which chunks should give way and which runs are still live."""
        busy = self.rotation.busy
        self.executor.interrupt([run_id for run_id in busy if self.watch.should_stop(run_id)])
        self.executor.retain(set(self.rotation.live) | busy)

    def _collect(self, future: Future[ChunkOutcome]) -> ChunkOutcome:
        run_id = self._in_flight.pop(future)
        self.rotation.busy.discard(run_id)
        return future.result()  # ChunkTrainer.train catches the trainer's errors itself

    def _record_of(self, outcome: ChunkOutcome) -> progress.ChunkRecord | None:
        """What one chunk writes (None for an interrupted chunk, which writes nothing)."""
        live = self.rotation.live.get(outcome.run_id)
        if live is None or outcome.interrupted:
            return None
        if outcome.error is not None:
            return progress.ChunkRecord(outcome.run_id, {
                "status": "FAILED", "error": outcome.error, "ended_by": "controller"},
                only_active=True)
        position = live.position + 1
        steps = live.completed_steps + outcome.steps
        fields: dict[str, Any] = progress_fields(position, *self.shape)
        fields.update(metrics=outcome.metrics, completed_steps=steps,
                      total_steps=steps + outcome.steps * (self.total_chunks - position),
                      checkpoint_path=outcome.checkpoint_path)
        if position >= self.total_chunks:
            fields.update(status="COMPLETED", ended_by="controller")
        points = [{"epoch": fields["current_epoch"], "chunk": fields["current_chunk"],
                   "step": steps, "name": name, "value": value}
                  for name, value in outcome.metrics.items()]
        return progress.ChunkRecord(outcome.run_id, fields, points, only_active=True)

    def _after_outcome(self, outcome: ChunkOutcome) -> None:
        """Bring the in-memory rotation in line with what was just written, and say it."""
        live = self.rotation.live.get(outcome.run_id)
        if live is None:
            return
        run_id = outcome.run_id
        if outcome.error is not None:
            self.rotation.remove(run_id)
            self.reporter.emit(events.RUN_FAILED, f"Run {run_id} failed: {outcome.error}",
                               run_id=run_id)
            return
        live.position += 1
        live.completed_steps += outcome.steps
        live.checkpoint_path = outcome.checkpoint_path
        num_chunks = self.shape[0]
        text = ", ".join(f"{name}={value:.4g}" for name, value in outcome.metrics.items())
        self.reporter.emit(
            events.CHUNK_DONE,
            f"Run {run_id} finished chunk {(live.position - 1) % num_chunks + 1}/{num_chunks} of "
            f"epoch {(live.position - 1) // num_chunks + 1}/{self.shape[1]}: {text}",
            run_id=run_id, metrics=outcome.metrics,
            details={"position": live.position, "started": outcome.started, "ended": outcome.ended})
        if live.position >= self.total_chunks:
            self.rotation.remove(run_id)
            self.checkpoints.forget(run_id)
            self.reporter.emit(events.RUN_COMPLETED, f"Run {run_id} completed: {text}",
                               run_id=run_id, metrics=outcome.metrics)
        else:
            self.rotation.enqueue(live)

    # --- the end ---------------------------------------------------------------

    def _try_complete(self) -> bool:
        """Complete the experiment unless an op slipped in; the check and the status are atomic."""
        with self.store.write() as session:
            pending = progress.pending_ops(session, self.experiment_id)
            if not pending:
                experiments.set_experiment_status(session, self.experiment_id, "completed")
                return True
            progress.claim(session, pending)
        self.watch.update(pending)
        self._ops.apply_all(pending)
        return False

    def _drain(self, record: bool = True) -> None:
        """Wait for the chunks in flight (they are told to stop) and keep the finished ones."""
        if not self._in_flight:
            return
        self._sync_executor()  # the end is requested: every chunk in flight gives way
        done, _ = wait(list(self._in_flight))
        if record:
            self._turn(done)
        else:
            for future in done:
                self._collect(future)

    def _finish(self, status: str, error: str | None = None) -> ExperimentRead:
        """End the experiment; on cancel, leave the ONGOING runs STOPPED for a restart."""
        resumable = [live.run_id for live in self.rotation.live.values()
                     if live.status == "ONGOING"]
        with self.store.write() as session:
            if status != "completed":
                for run_id in resumable:  # those a request has not changed meanwhile
                    runs.write_run(session, run_id, {"status": "STOPPED", "ended_by": ENDED_BY_CANCEL},
                                   only_from=("ONGOING",))
                experiment = experiments.set_experiment_status(
                    session, self.experiment_id, status, error=error)
            else:
                experiment = experiments.get_experiment(session, self.experiment_id)
            totals = runs.count_runs(session, experiment_id=self.experiment_id)
        if status == "completed":
            message = f"Experiment {self.experiment_name!r} completed ({events.plural(totals, 'run')})."
        elif status == "cancelled":
            message = (f"Experiment {self.experiment_name!r} cancelled; "
                       f"{events.plural(len(self.rotation.live), 'run')} left to resume on restart.")
        else:
            message = f"Experiment {self.experiment_name!r} failed: {error}"
        self.reporter.emit(events.EXPERIMENT_ENDED, message, details={"status": status})
        return experiment
