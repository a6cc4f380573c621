"""The Ray executor: each live run's model lives in a Ray actor placed with its resource request.

The controller keeps the scheduling loop, the op rules and every database
write; an actor (`ray_actor.RunActor`) builds its run's model, trains the
chunks it is sent and writes the run's checkpoints under the experiment's
folder, which every node must reach (a shared file system). What comes back is
a `ChunkOutcome`: metrics, steps and the checkpoint's path, never the state.

- Resources: a run's `resources` config key (`{"num_cpus": 1, "num_gpus": 1}`,
  other keys are Ray custom resources), else the controller's
  `resources_per_run`, else one CPU.
- Room: `workers` chunks train at once. An actor keeps its run's resources while
  the run is live, so its next chunk starts at once; when the next run in the
  rotation needs resources the cluster has not got free, idle actors are ended,
  least recently used first (their models are in their committed checkpoints),
  so what they held (a GPU) goes to that run. Starting an actor takes a second
  or more: size the resources so that the live runs fit when you can.
- Stops: the actor is threaded; `interrupt` reaches it while `train` runs and
  flags the run for its `should_stop()`. An actor still starting (its first
  chunk not begun) is ended instead: it holds nothing its checkpoint has not.
- Failures: an actor or node that dies mid-chunk gives an outcome with `lost`
  set; the runner decides whether to restart the run (a new actor, from its last
  committed checkpoint, wherever Ray places it) or to fail it.
"""

from __future__ import annotations

import importlib.util
import logging
import socket
import threading
import time
from collections.abc import Collection, Mapping
from concurrent.futures import Future
from typing import Any

from rfconsole.db import InvalidError

from ..checkpoints import CheckpointStore
from ..chunks import ChunkOutcome
from ..interrupts import InterruptWatch
from ..live import LiveRun, error_text
from ..trainer import Trainer
from .base import ClonePrepared, ExecutorUnavailable
from .ray_actor import RunActor, prepare_clone

LOGGER = logging.getLogger("rfconsole.controller")
INSTALL_HINT = "Training on Ray needs Ray: pip install 'rfconsole[ray]'."
CLONE_TIMEOUT = 600.0  # seconds a clone's preparation may wait for the cluster


def require_ray() -> None:
    if importlib.util.find_spec("ray") is None:
        raise ExecutorUnavailable(INSTALL_HINT)


def _probe(address: str | None, timeout: float = 5.0) -> None:
    """Refuse at once a `host:port` that nothing answers on."""
    if not address or "://" in address or address in ("auto", "local"):
        return
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ExecutorUnavailable(f"The Ray address {address!r} is not host:port (the head node's "
                                  f"address and GCS port, such as 10.0.0.5:6379).")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        raise ExecutorUnavailable(f"Nothing answers at the Ray address {address} ({exc.strerror or exc}); "
                                  f"start the cluster with `ray start --head` there, or check the address.") from None


def actor_options(request: Mapping[str, Any]) -> dict[str, Any]:
    """Ray actor options from a resource request; InvalidError names a bad entry."""
    if not isinstance(request, Mapping):
        raise InvalidError("A run's resources must be an object such as {\"num_cpus\": 1, \"num_gpus\": 1}.")
    options: dict[str, Any] = {}
    custom: dict[str, float] = {}
    for key, value in request.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise InvalidError(f"The resource {key!r} must be a number of zero or more, not {value!r}.")
        name = str(key).lower()
        if name in ("num_cpus", "cpu", "cpus"):
            options["num_cpus"] = float(value)
        elif name in ("num_gpus", "gpu", "gpus"):
            options["num_gpus"] = float(value)
        elif name == "memory":
            options["memory"] = int(value)
        else:
            custom[str(key)] = float(value)
    if custom:
        options["resources"] = custom
    return options


class RayExecutor:
    """See the module docstring. Called from the controller's main thread, except the futures'
    callbacks, which touch only the lock-guarded `_busy` and `_dead`."""

    def __init__(self, trainer: Trainer, checkpoints: CheckpointStore, workers: int,
                 shape: tuple[int, int], pace: float, *, address: str | None = None,
                 resources_per_run: Mapping[str, Any] | None = None) -> None:
        self.trainer = trainer
        self.checkpoints = checkpoints
        self.slots = workers
        self.shape = shape
        self.pace = pace
        self.address = address or None
        self.default_options = actor_options(resources_per_run or {"num_cpus": 1})
        self._actors: dict[int, Any] = {}  # run id -> actor handle; in last-used order
        self._held: dict[int, dict[str, float]] = {}  # run id -> the resources its actor holds
        self._chunk_of: dict[int, int] = {}  # run id -> the number of its chunk in flight
        self._interrupted: dict[int, int] = {}  # run id -> the chunk already told to give way
        self._next_chunk = 0
        self._lock = threading.Lock()
        self._busy: set[int] = set()
        self._dead: set[int] = set()  # runs whose actor died; replaced on their next chunk
        self._ready: set[int] = set()  # runs whose actor has answered once (it is up)
        self._abandoned: set[int] = set()  # runs whose starting actor was ended by a stop
        self._owns_ray = False
        self._ray: Any = None

    # --- life ------------------------------------------------------------------

    def start(self, watch: InterruptWatch, end_requested: threading.Event) -> None:
        import ray

        _probe(self.address)  # ray.init would retry an unreachable address for minutes
        if not ray.is_initialized():
            where = f"at {self.address}" if self.address else "on this machine"
            try:
                ray.init(address=self.address, include_dashboard=False, log_to_driver=False,
                         logging_level=logging.WARNING)
            except Exception as exc:  # ConnectionError, RuntimeError, ValueError...
                raise ExecutorUnavailable(f"Cannot start or reach the Ray cluster {where} "
                                          f"({error_text(exc)[:300]}).") from None
            self._owns_ray = True
        self._ray = ray
        self._actor_class = ray.remote(RunActor)
        self._prepare = ray.remote(prepare_clone)
        try:
            self._trainer_ref = ray.put(self.trainer)
        except Exception as exc:  # a lock, an open file, a lambda...
            self.close()
            raise ExecutorUnavailable(
                f"The trainer {type(self.trainer).__name__} cannot be sent to the Ray cluster "
                f"({error_text(exc)[:200]}); keep locks, open files and the like out of its pickled "
                f"state (see __getstate__).") from None
        # Made here, before any actor races to create it on the shared folder.
        self.checkpoints.ensure_key()

    def close(self) -> None:
        if self._ray is None:
            return
        for run_id in list(self._actors):
            self._end_actor(run_id)
        if self._owns_ray:
            self._ray.shutdown()
            self._owns_ray = False
        self._ray = None

    # --- chunks ----------------------------------------------------------------

    def submit(self, live: LiveRun) -> Future[ChunkOutcome]:
        result: Future[ChunkOutcome] = Future()
        started = time.monotonic()
        try:
            actor = self._actor_for(live)
        except InvalidError as exc:  # a bad resource request fails the run alone
            result.set_result(ChunkOutcome(live.run_id, error=exc.message, started=started,
                                           ended=time.monotonic()))
            return result
        self._next_chunk += 1
        chunk = self._chunk_of[live.run_id] = self._next_chunk
        with self._lock:
            self._busy.add(live.run_id)
        ref = actor.train.remote(chunk, live.position, live.completed_steps, live.checkpoint_path)

        def settle(inner: Future[Any]) -> None:
            try:
                outcome = inner.result()
                with self._lock:
                    self._ready.add(live.run_id)
                    self._abandoned.discard(live.run_id)  # it finished before it was ended
            except Exception as exc:
                outcome = self._failure(live.run_id, exc)
            outcome.started, outcome.ended = started, time.monotonic()
            with self._lock:
                self._busy.discard(live.run_id)
            result.set_result(outcome)

        ref.future().add_done_callback(settle)
        return result

    def interrupt(self, run_ids: Collection[int]) -> None:
        for run_id in run_ids:
            chunk = self._chunk_of.get(run_id)
            actor = self._actors.get(run_id)
            if chunk is None or actor is None or self._interrupted.get(run_id) == chunk:
                continue
            with self._lock:
                if run_id not in self._busy:
                    continue
                starting = run_id not in self._ready
                if starting:
                    self._abandoned.add(run_id)
            self._interrupted[run_id] = chunk
            if starting:  # faster than waiting for the process to come up to be told
                self._end_actor(run_id)
            else:
                actor.interrupt.remote(chunk)

    def retain(self, run_ids: Collection[int]) -> None:
        for run_id in [run_id for run_id in self._actors if run_id not in run_ids]:
            self._end_actor(run_id)

    def prepare_clone(self, clone_id: int, config: dict[str, Any], parent_id: int,
                      parent_checkpoint: str | None, warm: bool,
                      total_chunks: int) -> ClonePrepared:
        ray = self._ray
        ref = self._prepare.options(num_cpus=0).remote(
            self._trainer_ref, str(self.checkpoints.experiment_path), clone_id, config, parent_id,
            parent_checkpoint, warm, total_chunks)
        try:
            prepared: ClonePrepared = ray.get(ref, timeout=CLONE_TIMEOUT)
        except ray.exceptions.RayTaskError as exc:  # the trainer's own error, as the threads give it
            cause = getattr(exc, "cause", None)
            if isinstance(cause, Exception):
                raise cause from None
            raise
        return prepared

    # --- actors ----------------------------------------------------------------

    def _actor_for(self, live: LiveRun) -> Any:
        run_id = live.run_id
        with self._lock:
            dead = run_id in self._dead
            self._dead.discard(run_id)
        if dead:
            self._end_actor(run_id)
        actor = self._actors.pop(run_id, None)
        if actor is None:
            request = live.config.get("resources")
            options = dict(self.default_options) if request is None else actor_options(request)
            self._check_feasible(run_id, _amounts(options))
            self._make_room(_amounts(options))
            self._held[run_id] = _amounts(options)
            actor = self._actor_class.options(max_concurrency=2, max_restarts=0, **options).remote(
                self._trainer_ref, run_id, live.config, str(self.checkpoints.experiment_path),
                self.shape, self.pace)
        self._actors[run_id] = actor  # now the most recently used
        return actor

    def _check_feasible(self, run_id: int, need: dict[str, float]) -> None:
        """Refuse a request no node of the cluster could ever hold (else it would wait for ever)."""
        total = self._ray.cluster_resources()
        for name, amount in need.items():
            if amount > total.get(name, 0.0) + 1e-9:
                raise InvalidError(f"Run {run_id} asks Ray for {amount:g} {name} but the whole cluster has "
                                   f"{total.get(name, 0.0):g}; change its resources or add nodes that have them.")

    def _make_room(self, need: dict[str, float]) -> None:
        """End idle actors, least recently used first, until the cluster's free resources
        cover `need` (an actor that still does not fit waits for Ray to place it)."""
        available = self._ray.available_resources()
        missing = {name: amount - available.get(name, 0.0) for name, amount in need.items()
                   if amount > available.get(name, 0.0) + 1e-9}
        with self._lock:
            busy = set(self._busy)
        for run_id in list(self._actors):
            if not missing:
                return
            if run_id in busy:
                continue
            freed = self._held.get(run_id, {})
            self._end_actor(run_id)
            missing = {name: amount - freed.get(name, 0.0) for name, amount in missing.items()
                       if amount > freed.get(name, 0.0) + 1e-9}

    def _end_actor(self, run_id: int) -> None:
        actor = self._actors.pop(run_id, None)
        self._held.pop(run_id, None)
        with self._lock:
            self._ready.discard(run_id)
        self._chunk_of.pop(run_id, None)
        self._interrupted.pop(run_id, None)
        if actor is not None:
            try:
                self._ray.kill(actor, no_restart=True)
            except Exception:  # already gone with its node
                LOGGER.debug("the actor of run %s was already gone", run_id, exc_info=True)

    def _failure(self, run_id: int, exc: Exception) -> ChunkOutcome:
        """The outcome of a chunk whose call failed: its actor or node lost, or a bug."""
        with self._lock:
            if run_id in self._abandoned:  # its starting actor was ended on purpose, for a stop
                self._abandoned.discard(run_id)
                return ChunkOutcome(run_id, interrupted=True)
        errors = self._ray.exceptions
        lost_kinds = tuple(getattr(errors, name) for name in (
            "RayActorError", "WorkerCrashedError", "NodeDiedError", "ObjectLostError",
            "OwnerDiedError", "ActorUnavailableError") if hasattr(errors, name))
        if isinstance(exc, lost_kinds):
            with self._lock:
                self._dead.add(run_id)
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            reason = f"its Ray worker was lost ({type(exc).__name__}: {first_line[:200]})"
            return ChunkOutcome(run_id, interrupted=True, lost=reason)
        LOGGER.error("a chunk of run %s failed on Ray", run_id, exc_info=exc)
        return ChunkOutcome(run_id, error=error_text(exc)[:500])


def _amounts(options: Mapping[str, Any]) -> dict[str, float]:
    """Actor options as Ray's resource names and amounts (CPU, GPU, memory, custom ones)."""
    amounts = {"CPU": float(options.get("num_cpus", 1.0))}
    if options.get("num_gpus"):
        amounts["GPU"] = float(options["num_gpus"])
    if options.get("memory"):
        amounts["memory"] = float(options["memory"])
    amounts.update(options.get("resources", {}))
    return {name: amount for name, amount in amounts.items() if amount > 0}
