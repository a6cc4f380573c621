"""The cooperative stop check behind `ChunkContext.should_stop()`.

A chunk in progress should give way when its run has a STOP or DELETE waiting,
or when the experiment is being ended. Worker threads ask often, so the answer
comes from memory, and the database is read at most once per `refresh_interval`
(one indexed query of the experiment's pending ops, shared by all workers).
"""

from __future__ import annotations

import threading
import time

from rfconsole.db import Store, ic_ops

INTERRUPTING_OPS = frozenset({"STOP", "DELETE"})


class InterruptWatch:
    def __init__(self, store: Store, experiment_id: int, end_requested: threading.Event,
                 refresh_interval: float = 0.1) -> None:
        self._store = store
        self._experiment_id = experiment_id
        self._end_requested = end_requested
        self._refresh_interval = refresh_interval
        self._lock = threading.Lock()
        self._flagged: frozenset[int] = frozenset()  # told by the main loop
        self._pending: frozenset[int] = frozenset()  # seen in the database, replaced each read
        self._cleared_during_read: set[int] = set()
        self._checked_at = 0.0

    def flag(self, run_id: int) -> None:
        """Mark a run as wanted to stop now (the main loop saw the op first)."""
        with self._lock:
            self._flagged = self._flagged | {run_id}

    def clear(self, run_id: int) -> None:
        """The run's stop or delete is applied: forget it (also the last read, now stale)."""
        with self._lock:
            self._flagged = self._flagged - {run_id}
            self._pending = self._pending - {run_id}
            self._cleared_during_read.add(run_id)

    def should_stop(self, run_id: int) -> bool:
        if self._end_requested.is_set():
            return True
        now = time.monotonic()
        with self._lock:
            stale = now - self._checked_at >= self._refresh_interval
            if stale:
                self._checked_at = now
        if stale:
            self._refresh()
        return run_id in self._flagged or run_id in self._pending

    def _refresh(self) -> None:
        with self._lock:
            self._cleared_during_read = set()
        with self._store.read() as session:
            pending = ic_ops.list_pending(session, experiment_id=self._experiment_id)
        fresh = {op.run_id for op in pending if op.operation in INTERRUPTING_OPS}
        with self._lock:
            # A read that began before an op was applied may still list it: without this,
            # a run resumed at once would give up its next chunk for a stop already done.
            self._pending = frozenset(fresh - self._cleared_during_read)
