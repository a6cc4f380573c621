"""The controller's side of the MLflow mirror: start the mirror process, keep it alive, stop it.

    mirror = MirrorProcess(store, experiment, tracking_uri, report=reporter.emit)
    mirror.start()     # python -m rfconsole.controller.mlflow_process, below training's priority
    ...                # training: the mirror follows the database, nothing is handed over
    mirror.close()     # the experiment ended: the process writes what is left and exits

The training process does no MLflow work at all: no import of the client, no
HTTP, no JSON, not even an event hand-over per chunk. The mirror process reads
what changed from the database (which holds every chunk's metrics and status)
and is niced, so it yields the CPU to training. One thread here waits on the
process's output (blocked in a read, it costs nothing) and passes its reports
(MLflow unreachable, back again) to the experiment log; if the process dies, it
is started again after a pause that grows, and, finding the MLflow runs by
their tags, carries on where it stopped.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from rfconsole.db import Store, experiment_log
from rfconsole.db import mirror as follow

from . import events
from .mlflow_bridge import require_client, shown_uri
from .mlflow_process import EXIT_BEHIND, STATS

LOGGER = logging.getLogger("rfconsole.controller")

TRACEBACK_LOG = events.TRACEBACK_LOG  # the process's stderr goes to logs/controller.log
_FIRST_RESTART = 1.0  # seconds before a dead mirror process is started again (then doubled)
_STEADY = 60.0  # a process that ran this long before it died had been working


class MirrorProcess:
    """Runs and supervises the mirror process of one experiment; see the module docstring."""

    def __init__(self, store: Store, experiment_id: int, experiment_name: str,
                 experiment_path: Path, tracking_uri: str, *,
                 report: Callable[[str, str], None] | None = None, flush_interval: float = 2.0,
                 poll_interval: float = 0.25, max_backoff: float = 30.0,
                 close_timeout: float = 10.0) -> None:
        require_client()
        self.tracking_uri = tracking_uri
        self.experiment_path = experiment_path
        self.report = report or (lambda kind, message: None)
        self.max_backoff = max_backoff
        self.close_timeout = close_timeout
        self._settings = {
            "db": follow.connection_url(store), "experiment_id": experiment_id,
            "experiment_name": experiment_name, "tracking_uri": tracking_uri,
            "flush_interval": flush_interval, "poll_interval": poll_interval,
            "max_backoff": max_backoff, "close_timeout": close_timeout,
        }
        self._process: subprocess.Popen[str] | None = None
        self._closing = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._supervise, name="rfconsole-mlflow-supervisor",
                                        daemon=True)
        self.caught_up: bool | None = None  # after close(): did MLflow take every change
        self.passes = 0  # the processes' successful passes, for tests and the benchmark
        self.cpu_seconds = 0.0  # the processes' CPU time (reported as they exit)
        self.starts = 0

    def start(self) -> None:
        self._thread.start()

    @property
    def pid(self) -> int | None:
        """The mirror process's id while it runs."""
        with self._lock:
            return None if self._process is None else self._process.pid

    def close(self) -> bool:
        """Tell the process the experiment ended, wait while it writes what is left (up to
        `close_timeout` seconds and a margin), and return whether MLflow took everything."""
        self._closing.set()
        if self._thread.ident is None:  # never started
            return False
        with self._lock:  # EOF: the process's last poll, its last writes, its exit
            if self._process is not None and self._process.stdin is not None:
                try:
                    self._process.stdin.close()
                except OSError:
                    pass
        self._thread.join(self.close_timeout + 15)
        if self._thread.is_alive():  # stuck: not our training's problem
            with self._lock:
                if self._process is not None:
                    self._process.kill()
            self._thread.join(5)
        return bool(self.caught_up)

    # --- the supervising thread -------------------------------------------------------

    def _supervise(self) -> None:
        pause = _FIRST_RESTART
        while True:
            began = time.monotonic()
            code = self._run_once()
            if self._closing.is_set():
                self.caught_up = code == 0
                if code not in (0, EXIT_BEHIND):
                    self._warn_died(code, restarting=False)
                return
            if time.monotonic() - began > _STEADY:
                pause = _FIRST_RESTART  # it had been running well: a new streak of failures
            if pause == _FIRST_RESTART:  # said once per streak, not at every restart
                self._warn_died(code, restarting=True)
            if self._closing.wait(pause):
                self.caught_up = False
                self._warn_died(code, restarting=False)
                return
            pause = min(self.max_backoff, pause * 2)

    def _run_once(self) -> int | None:
        """Start the process, pass on its reports until it exits; its exit code (None: no start)."""
        try:
            process = self._spawn()
        except OSError as exc:
            LOGGER.warning("could not start the MLflow mirror process: %s", exc)
            return None
        assert process.stdout is not None
        assert process.stdin is not None
        with process.stdout:
            for line in process.stdout:
                self._take(line)
        code = process.wait()
        with self._lock:
            self._process = None
            try:
                process.stdin.close()
            except OSError:
                pass
        return code

    def _spawn(self) -> subprocess.Popen[str]:
        folder = self.experiment_path / experiment_log.LOG_FOLDER
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / TRACEBACK_LOG).open("a", encoding="utf-8") as errors:
            process = subprocess.Popen(
                [sys.executable, "-m", "rfconsole.controller.mlflow_process"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors, text=True,
                encoding="utf-8", close_fds=True, start_new_session=True)
        with self._lock:
            self._process = process
        self.starts += 1
        assert process.stdin is not None
        _write_settings(process.stdin, self._settings)
        if self._closing.is_set():  # closed while starting: the process ends after one pass
            process.stdin.close()
        return process

    def _take(self, line: str) -> None:
        try:
            said: dict[str, Any] = json.loads(line)
            kind, message = str(said["kind"]), str(said["message"])
        except (ValueError, KeyError, TypeError):
            LOGGER.warning("the MLflow mirror process said something unexpected: %.200s", line)
            return
        if kind == STATS:
            self.passes += int(said.get("passes", 0))
            self.cpu_seconds += float(said.get("cpu_seconds", 0.0))
        elif kind in (events.MIRROR_WARNING, events.MIRROR_INFO):
            self.report(kind, message)

    def _warn_died(self, code: int | None, restarting: bool) -> None:
        what = "could not be started" if code is None else f"stopped unexpectedly (exit code {code})"
        then = ("it is started again and carries on where it stopped" if restarting else
                "running the experiment again, or rfconsole.controller.mlflow_bridge.catch_up, "
                "writes the rest")
        self.report(events.MIRROR_WARNING, f"The MLflow mirror process for "
                    f"{shown_uri(self.tracking_uri)} {what}; {then} (details in logs/"
                    f"{TRACEBACK_LOG}).")


def _write_settings(pipe: IO[str], settings: dict[str, Any]) -> None:
    try:
        pipe.write(json.dumps(settings) + "\n")
        pipe.flush()
    except (OSError, ValueError):  # the process died at once (its exit code says so), or closed
        pass
