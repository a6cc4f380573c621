"""What the views share: the store, the run listing, where each experiment logs, read-only or not.

An app made before its database is open (what `serve` does, so that it answers
while the data layer loads) holds an `Opening` until `install_state` is called;
`state()` waits for it, so a view that reads data is answered once the database
is open, or refused in one sentence when it could not be opened.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask import Flask, current_app
from rfconsole.db import experiment_log

from .errors import ApiError
from .refusals import RefusalThrottle

if TYPE_CHECKING:
    from rfconsole.db.store import Store

    from .listing import RunListing

EXTENSION_KEY = "rfconsole"
OPENING_KEY = "rfconsole.opening"
# How long a request waits for a database that is still being opened, and how many
# requests may wait at once (the server has 8 threads; see Opening).
OPEN_WAIT_SECONDS = 15.0
MAX_WAITING = 4
DISPATCHER_LOG = "dispatcher.log"
logger = logging.getLogger("rfconsole.dispatcher")


@dataclass
class DispatcherState:
    store: Store
    log_component: str = experiment_log.DISPATCHER
    readonly: bool = False
    listing: RunListing = field(init=False)
    # Refused op requests are logged once per (run, reason) per 10 s.
    refusals: RefusalThrottle = field(default_factory=RefusalThrottle, init=False)
    # experiment id -> (name, experiment_path); both never change once created.
    _locations: dict[int, tuple[str, str]] = field(default_factory=dict, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def __post_init__(self) -> None:
        from .listing import RunListing  # the data layer: loaded once a database is open

        self.listing = RunListing(self.store)

    def location(self, experiment_id: int) -> tuple[str, str] | None:
        with self._lock:
            known = self._locations.get(experiment_id)
        if known is not None:
            return known
        from rfconsole.db.listing import experiment_location

        found: tuple[str, str] | None = experiment_location(self.store.engine, experiment_id)
        if found is not None:
            with self._lock:
                self._locations[experiment_id] = found
        return found

    def log_event(self, experiment_id: int, level: str, message: str) -> None:
        """One line to the experiment log (our component) and to `<path>/logs/dispatcher.log`.

        A log that cannot be written never fails the request that it describes.
        """
        where = self.location(experiment_id)
        if where is None or not where[1]:
            return
        name, path = where
        try:
            line = experiment_log.append(path, name, self.log_component, level, message)
            experiment_log.append_line(Path(path) / experiment_log.LOG_FOLDER / DISPATCHER_LOG, line)
        except OSError as exc:
            logger.warning("Cannot write the log of experiment %s: %s", name, exc)


class Opening:
    """The database of an app made without one: being opened, open, or failed (and why).

    At most `MAX_WAITING` requests wait for it at once; more are answered 503 at
    once, so that a slow database never holds every server thread and health
    checks keep being answered.
    """

    def __init__(self) -> None:
        self.done = threading.Event()
        self.failure: str | None = None
        self._waiting = 0
        self._changed = threading.Condition()

    def wait(self) -> bool:
        """Wait for the database (False: too many waiting already, or still not open)."""
        with self._changed:
            if self._waiting >= MAX_WAITING and not self.done.is_set():
                return False
            self._waiting += 1
        try:
            return self.done.wait(OPEN_WAIT_SECONDS)
        finally:
            with self._changed:
                self._waiting -= 1
                self._changed.notify_all()

    @property
    def waiting(self) -> int:
        """How many requests wait for the database now."""
        with self._changed:
            return self._waiting

    def settle(self, timeout: float) -> None:
        """Once done: wait (at most `timeout` s) until no request is still waiting for the database."""
        with self._changed:
            self._changed.wait_for(lambda: self._waiting == 0, timeout)


def expect_state(app: Flask) -> None:
    """Mark `app` as waiting for its database: views that read data wait for `install_state`."""
    app.extensions[OPENING_KEY] = Opening()


def install_state(app: Flask, state: DispatcherState) -> None:
    app.extensions[EXTENSION_KEY] = state
    opening: Opening | None = app.extensions.get(OPENING_KEY)
    if opening is not None:
        opening.done.set()


def fail_state(app: Flask, message: str, settle_seconds: float = 0.0) -> None:
    """The database could not be opened: the views waiting for it answer 503 with `message`.

    With `settle_seconds`, return once those views have their answer (or that time passed)."""
    opening: Opening | None = app.extensions.get(OPENING_KEY)
    if opening is None or opening.done.is_set():
        return  # the app has its database (or already failed)
    opening.failure = message
    opening.done.set()
    opening.settle(settle_seconds)


def app_state(app: Flask) -> DispatcherState:
    found: Any = app.extensions[EXTENSION_KEY]
    return found  # type: ignore[no-any-return]


def state() -> DispatcherState:
    extensions = current_app.extensions
    found: Any = extensions.get(EXTENSION_KEY)
    if found is None:
        found = _wait_for_state(extensions)
    return found  # type: ignore[no-any-return]


def _wait_for_state(extensions: dict[str, Any]) -> DispatcherState:
    opening: Opening = extensions[OPENING_KEY]
    if not opening.wait():
        raise ApiError(503, "The dispatcher is still opening its database; try again in a moment.",
                       retry_after=1)
    if opening.failure is not None:
        raise ApiError(503, f"The dispatcher could not open its database: {opening.failure}")
    found: DispatcherState = extensions[EXTENSION_KEY]
    return found
