"""What the views share: the store, the run listing, where each experiment logs, read-only or not."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask, current_app
from rfconsole.db import Store, experiment_log
from rfconsole.db.listing import experiment_location

from .listing import RunListing
from .refusals import RefusalThrottle

EXTENSION_KEY = "rfconsole"
DISPATCHER_LOG = "dispatcher.log"
logger = logging.getLogger("rfconsole.dispatcher")


@dataclass
class DispatcherState:
    store: Store
    log_component: str = "dispatcher"
    readonly: bool = False
    listing: RunListing = field(init=False)
    # Refused op requests are logged once per (run, reason) per 10 s.
    refusals: RefusalThrottle = field(default_factory=RefusalThrottle, init=False)
    # experiment id -> (name, experiment_path); both never change once created.
    _locations: dict[int, tuple[str, str]] = field(default_factory=dict, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def __post_init__(self) -> None:
        self.listing = RunListing(self.store)

    def location(self, experiment_id: int) -> tuple[str, str] | None:
        with self._lock:
            known = self._locations.get(experiment_id)
        if known is not None:
            return known
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


def install_state(app: Flask, state: DispatcherState) -> None:
    app.extensions[EXTENSION_KEY] = state


def state() -> DispatcherState:
    found: Any = current_app.extensions[EXTENSION_KEY]
    return found  # type: ignore[no-any-return]
