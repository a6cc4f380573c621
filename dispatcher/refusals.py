"""Refusals logged once per key (run and reason, or client and reason) per 10 seconds.

A client that retries a refused request in a loop (or a load test) would
otherwise write a log line per request. The first refusal of a key is logged;
repeats within the window are counted, and the next line logged for that key
says how many were left out.

    throttle = RefusalThrottle()
    shown = throttle.admit(("stop", 3, "Run 3 is STOPPED"))   # None: skip; else repeats left out
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable

WINDOW_SECONDS = 10.0
MAX_KEYS = 4096


class RefusalThrottle:
    """Thread-safe; remembers at most MAX_KEYS keys (the oldest are forgotten first)."""

    def __init__(self, window: float = WINDOW_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self._window = window
        self._clock = clock
        self._lock = threading.Lock()
        # key -> (time last logged, refusals left out since)
        self._seen: dict[Hashable, tuple[float, int]] = {}

    def admit(self, key: Hashable) -> int | None:
        """None when this refusal should not be logged; else how many repeats were left out."""
        now = self._clock()
        with self._lock:
            last = self._seen.get(key)
            if last is not None and now - last[0] < self._window:
                self._seen[key] = (last[0], last[1] + 1)
                return None
            self._seen.pop(key, None)
            self._seen[key] = (now, 0)
            while len(self._seen) > MAX_KEYS:
                del self._seen[next(iter(self._seen))]
            return last[1] if last is not None else 0


def repeats_note(left_out: int) -> str:
    """The note added to a logged refusal when repeats were left out (else nothing)."""
    if not left_out:
        return ""
    return f" (and {left_out} more like it since, not logged)"
