"""The cooperative stop check behind `ChunkContext.should_stop()`.

A chunk in progress should give way when its run has a STOP or DELETE waiting,
or when the experiment is being ended. Worker threads ask often, so the answer
comes from memory: the controller's main loop reads the pending ops once per
turn (every `poll_interval` while chunks train) and hands them over with
`update`; the workers never read the database for it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from rfconsole.db import ICOpRead

INTERRUPTING_OPS = frozenset({"STOP", "DELETE"})


class InterruptWatch:
    def __init__(self, end_requested: threading.Event) -> None:
        self._end_requested = end_requested
        self._lock = threading.Lock()
        self._wanted: frozenset[int] = frozenset()  # runs with a STOP or DELETE pending

    def update(self, pending: Iterable[ICOpRead]) -> None:
        """The pending ops as the main loop just read them (replaces the previous read)."""
        wanted = frozenset(op.run_id for op in pending if op.operation in INTERRUPTING_OPS)
        with self._lock:
            self._wanted = wanted

    def flag(self, run_id: int) -> None:
        """Mark a run as wanted to stop now."""
        with self._lock:
            self._wanted = self._wanted | {run_id}

    def clear(self, run_id: int) -> None:
        """The run's stop or delete is applied: forget it."""
        with self._lock:
            self._wanted = self._wanted - {run_id}

    def should_stop(self, run_id: int) -> bool:
        return self._end_requested.is_set() or run_id in self._wanted
