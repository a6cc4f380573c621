"""The controller's heartbeat: a small thread that says "alive" to the database every second.

Readers (the dispatcher, the console) take a controller whose last beat is
older than a few seconds for gone. The beats come from their own thread, so a
long chunk or a wait for ops never delays them. A beat that fails (the database
busy or gone for a moment) is logged once and tried again at the next tick.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from types import TracebackType

LOGGER = logging.getLogger("rfconsole.controller")

HEARTBEAT_INTERVAL = 1.0  # seconds; readers allow several missed beats


class Heartbeat:
    """Calls `beat()` at once and then every `interval` seconds until `stop()`."""

    def __init__(self, beat: Callable[[], object], interval: float = HEARTBEAT_INTERVAL) -> None:
        self._beat = beat
        self._interval = interval
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="rfconsole-heartbeat", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> Heartbeat:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()

    def _run(self) -> None:
        while not self._stopped.is_set():
            try:
                self._beat()
            except Exception:  # never let a busy database end the experiment
                if not self._failing:
                    LOGGER.warning("the controller's heartbeat could not be written",
                                   exc_info=True)
                self._failing = True
            else:
                self._failing = False
            self._stopped.wait(self._interval)
