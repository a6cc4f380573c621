"""Applying pending IC ops to a running experiment's rotation.

Each op ends COMPLETED, FAILED (with the error) or SKIPPED (with the reason),
with processed_at. The run's change and the op's outcome are written in one
transaction, so a controller killed halfway applies the op again on restart,
and never twice. A STOP or DELETE of a run whose chunk is still training waits
(it stays PENDING) until that chunk ends; the cooperative check tells the
trainer to end the chunk early.
"""

from __future__ import annotations

import logging

from rfconsole.db import ACTIVE_RUN_STATUSES, ICOpRead, RunRead, ic_ops, progress, runs
from rfconsole.db.models import OP_VERBS

from . import events
from .checkpoints import CheckpointRefused
from .context import ExperimentContext
from .live import LiveRun, error_text, progress_fields
from .rotation import Rotation

LOGGER = logging.getLogger("rfconsole.controller")


class OpExecutor:
    """Applies ops to the rotation, recording each outcome in the database."""

    def __init__(self, context: ExperimentContext, rotation: Rotation) -> None:
        self.ctx = context
        self.rotation = rotation
        self._received: set[int] = set()

    def apply_all(self, ops: list[ICOpRead]) -> None:
        """Apply ops oldest first; ops on a run whose chunk is training wait for it, and so
        do the later ops on that run, or on the clone of it that a waiting op would start."""
        waiting_runs: set[int] = set()
        for op in ops:
            if op.ic_id not in self._received:
                self._received.add(op.ic_id)
                self._say(events.OP_RECEIVED, op, f"Received {self._describe(op)} from "
                          f"{op.origin or 'an unknown origin'}.")
            if op.run_id in waiting_runs or (
                op.operation in ("STOP", "DELETE") and self.rotation.is_busy(op.run_id)
            ):
                waiting_runs.add(op.run_id)
                if op.new_run_id is not None:  # so do later ops on the clone it has yet to start
                    waiting_runs.add(op.new_run_id)
                if op.operation in ("STOP", "DELETE"):  # its own apply clears the flag
                    self.ctx.watch.flag(op.run_id)
                continue
            try:
                getattr(self, f"_apply_{op.operation.lower()}")(op)
            except Exception as exc:  # one op's trouble never stops the experiment
                LOGGER.exception("applying IC op %s failed", op.ic_id)
                self._fail(op, error_text(exc))

    # --- the four ops ------------------------------------------------------

    def _apply_stop(self, op: ICOpRead) -> None:
        live = self.rotation.live.get(op.run_id)
        with self.ctx.store.write() as session:
            run = runs.get_run(session, op.run_id)
            if live is None or run.status not in ACTIVE_RUN_STATUSES:
                reason = f"Run {op.run_id} is {run.status}, so there was nothing to stop."
                ic_ops.mark_skipped(session, op.ic_id, reason)
                skipped = reason
            else:
                runs.write_run(session, op.run_id, {"status": "STOPPED",
                                                    "ended_by": op.origin or "user"})
                ic_ops.mark_completed(session, op.ic_id)
                skipped = None
        if skipped:
            self._say(events.OP_SKIPPED, op, f"Skipped {self._describe(op)}: {skipped}")
            return
        self.rotation.stop(op.run_id)
        self.ctx.watch.clear(op.run_id)
        assert live is not None
        live.model = None  # the checkpoint holds its state until a resume
        self.ctx.reporter.emit(events.RUN_STOPPED, f"Stopped run {op.run_id} after "
                               f"{events.plural(live.position, 'chunk')} (op {op.ic_id}).", run_id=op.run_id)
        self._say(events.OP_APPLIED, op, f"Applied {self._describe(op)}.")

    def _apply_resume(self, op: ICOpRead) -> None:
        refused: str | None = None
        with self.ctx.store.write() as session:
            run = runs.get_run(session, op.run_id)
            if run.status != "STOPPED" or op.run_id in self.rotation:
                reason = f"Run {op.run_id} is {run.status}, so there was nothing to resume."
                ic_ops.mark_skipped(session, op.ic_id, reason)
            else:
                reason = None
                try:
                    live = self.ctx.restore(run)
                except CheckpointRefused as exc:  # the run fails alone, with the reason
                    refused = str(exc)
                    progress.fail_run(session, op.run_id, refused)
                    ic_ops.mark_failed(session, op.ic_id, refused)
                else:
                    runs.write_run(session, op.run_id, {
                        "status": "ONGOING", "ended_by": None,
                        **progress_fields(live.position, *self.ctx.shape)})
                    ic_ops.mark_completed(session, op.ic_id)
        if reason:
            self._say(events.OP_SKIPPED, op, f"Skipped {self._describe(op)}: {reason}")
            return
        if refused:
            self.rotation.remove(op.run_id)
            self.ctx.reporter.emit(events.RUN_FAILED, f"Run {op.run_id} failed: {refused}",
                                   run_id=op.run_id)
            self._say(events.OP_FAILED, op, f"Failed {self._describe(op)}: {refused}")
            return
        live.status = "ONGOING"
        live.announced = True
        self.rotation.add(live)
        self.ctx.watch.clear(op.run_id)
        self.ctx.reporter.emit(events.RUN_RESUMED, f"Resumed run {op.run_id} at chunk "
                               f"{live.position + 1} of {self.ctx.total_chunks} (op {op.ic_id}).",
                               run_id=op.run_id)
        self._say(events.OP_APPLIED, op, f"Applied {self._describe(op)}.")

    def _apply_delete(self, op: ICOpRead) -> None:
        # The request already marked the run KILLED; drop it and its state.
        with self.ctx.store.write() as session:
            runs.write_run(session, op.run_id, {"checkpoint_path": None})
            ic_ops.mark_completed(session, op.ic_id)
        self.rotation.remove(op.run_id)
        self.ctx.watch.clear(op.run_id)
        try:
            self.ctx.checkpoints.drop(op.run_id)
        except OSError as exc:  # the delete is applied and recorded; only a file is left over
            LOGGER.warning("could not remove the checkpoint of deleted run %s: %s", op.run_id, exc)
        self.ctx.reporter.emit(events.RUN_DELETED, f"Deleted run {op.run_id} (op {op.ic_id}).",
                               run_id=op.run_id)
        self._say(events.OP_APPLIED, op, f"Applied {self._describe(op)}.")

    def _apply_clone_modify(self, op: ICOpRead) -> None:
        clone_id = op.new_run_id
        with self.ctx.store.read() as session:
            clone = runs.get_run(session, clone_id) if clone_id is not None else None
            parent = runs.get_run(session, op.run_id)
        if clone is None or clone.status != "NEW":
            status = clone.status if clone is not None else "missing"
            self._skip(op, _changed(clone_id, status))
            return
        try:
            live = self._build_clone(op, clone, parent)
        except Exception as exc:  # a bad clone config fails the clone alone
            message = error_text(exc)
            with self.ctx.store.write() as session:
                status = runs.get_run(session, clone.run_id).status
                if status != "NEW":  # deleted meanwhile: nothing left to fail
                    reason = _changed(clone.run_id, status)
                    ic_ops.mark_skipped(session, op.ic_id, reason)
                else:
                    reason = None
                    runs.write_run(session, clone.run_id, {"status": "FAILED", "error": message,
                                                           "ended_by": "controller"})
                    ic_ops.mark_failed(session, op.ic_id, message)
            if reason:
                self._say(events.OP_SKIPPED, op, f"Skipped {self._describe(op)}: {reason}")
                return
            self.ctx.reporter.emit(events.RUN_FAILED, f"Run {clone.run_id} (clone of run "
                                   f"{op.run_id}) failed to start: {message}", run_id=clone.run_id)
            self._say(events.OP_FAILED, op, f"Failed {self._describe(op)}: {message}")
            return
        with self.ctx.store.write() as session:
            current = runs.get_run(session, clone.run_id)
            if current.status != "NEW":
                reason = _changed(clone.run_id, current.status)
                ic_ops.mark_skipped(session, op.ic_id, reason)
            else:
                reason = None
                fields = progress_fields(live.position, *self.ctx.shape)
                checkpoint_path = live.checkpoint_path  # a warm clone's copy of its parent's state
                runs.write_run(session, clone.run_id, {
                    "completed_steps": live.completed_steps, "checkpoint_path": checkpoint_path,
                    **fields})
                ic_ops.mark_completed(session, op.ic_id)
        if reason:
            self._say(events.OP_SKIPPED, op, f"Skipped {self._describe(op)}: {reason}")
            return
        self.rotation.add(live)
        how = (f"warm from run {op.run_id}'s checkpoint after {events.plural(live.position, 'chunk')}"
               if op.warm_start else "cold, from scratch")
        self._say(events.OP_APPLIED, op, f"Applied {self._describe(op)}: run {clone.run_id} "
                  f"starts {how}.")

    def _build_clone(self, op: ICOpRead, clone: RunRead, parent: RunRead) -> LiveRun:
        """The clone's model (where the executor keeps models) and, when warm, its first
        checkpoint: its parent's state, and its parent's position in the data."""
        prepared = self.ctx.executor.prepare_clone(
            clone.run_id, dict(clone.config_leaf), parent.run_id, parent.checkpoint_path,
            bool(op.warm_start), self.ctx.total_chunks)
        kind = "warm" if op.warm_start else "cold"
        return LiveRun(run_id=clone.run_id, config=dict(clone.config_leaf),
                       position=prepared.position, completed_steps=prepared.completed_steps,
                       status="NEW", model=prepared.model, checkpoint_path=prepared.checkpoint_path,
                       lineage=f" ({kind} clone of run {parent.run_id})")

    # --- outcomes ----------------------------------------------------------

    def _skip(self, op: ICOpRead, reason: str) -> None:
        with self.ctx.store.write() as session:
            ic_ops.mark_skipped(session, op.ic_id, reason)
        self._say(events.OP_SKIPPED, op, f"Skipped {self._describe(op)}: {reason}")

    def _fail(self, op: ICOpRead, message: str) -> None:
        try:
            with self.ctx.store.write() as session:
                if ic_ops.get_op(session, op.ic_id).status == "PENDING":
                    ic_ops.mark_failed(session, op.ic_id, message)
                    # A clone whose op failed never starts: it must not wait as NEW for ever
                    # (nor start cold on a restart, which trains every NEW run).
                    if op.new_run_id is not None and runs.get_run(
                            session, op.new_run_id).status == "NEW":
                        runs.write_run(session, op.new_run_id, {
                            "status": "FAILED", "error": message, "ended_by": "controller"})
        except Exception:
            LOGGER.exception("could not record the failure of IC op %s", op.ic_id)
        self._say(events.OP_FAILED, op, f"Failed {self._describe(op)}: {message}")

    def _say(self, kind: str, op: ICOpRead, message: str) -> None:
        self.ctx.reporter.emit(kind, message, run_id=op.run_id, ic_id=op.ic_id,
                               details={"operation": op.operation, "new_run_id": op.new_run_id})

    @staticmethod
    def _describe(op: ICOpRead) -> str:
        text = f"{OP_VERBS.get(op.operation, op.operation)} of run {op.run_id} (op {op.ic_id}"
        if op.operation == "CLONE_MODIFY":
            text += f", new run {op.new_run_id}, {'warm' if op.warm_start else 'cold'}"
        return text + ")"


def _changed(run_id: int | None, status: str) -> str:
    return f"Clone run {run_id} is {status}; it changed before it could start."
