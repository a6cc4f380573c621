"""The rotation: which runs the controller trains, which wait, which are training now.

The runner picks chunks from it and the op executor moves runs in and out of it;
neither keeps its own copy. All of it is touched by the controller's main thread only.
"""

from __future__ import annotations

import heapq

from .live import LiveRun


class Rotation:
    """Live runs (NEW or ONGOING, in memory), stopped runs, busy runs and the training queue."""

    def __init__(self) -> None:
        self.live: dict[int, LiveRun] = {}
        self.stopped: set[int] = set()
        self.busy: set[int] = set()  # a chunk of the run is training now
        self._queue: list[tuple[int, int]] = []  # (position, run id); may hold stale entries

    def add(self, live: LiveRun) -> None:
        """Put a run (back) into the rotation; it is no longer stopped."""
        self.live[live.run_id] = live
        self.stopped.discard(live.run_id)
        self.enqueue(live)

    def enqueue(self, live: LiveRun) -> None:
        # The least-advanced run trains next: a heap of (position, run id), so that
        # picking it costs O(log n) rather than a scan of every live run per chunk.
        heapq.heappush(self._queue, (live.position, live.run_id))

    def stop(self, run_id: int) -> LiveRun | None:
        """Take a run out of the rotation and keep it as stopped (resumable)."""
        live = self.live.pop(run_id, None)
        self.stopped.add(run_id)
        return live

    def remove(self, run_id: int) -> LiveRun | None:
        """Take a run out for good (completed, failed, deleted)."""
        self.stopped.discard(run_id)
        return self.live.pop(run_id, None)

    def pop_idle(self) -> LiveRun | None:
        """The least-advanced idle live run, taken off the queue (enqueue it again once its
        chunk is recorded); None when no run waits for a worker."""
        while self._queue:
            position, run_id = heapq.heappop(self._queue)
            live = self.live.get(run_id)
            if live is None or run_id in self.busy or live.position != position:
                continue  # a stale entry: the run left the rotation or moved on
            return live
        return None

    def is_busy(self, run_id: int) -> bool:
        return run_id in self.busy

    def __contains__(self, run_id: object) -> bool:
        return run_id in self.live
