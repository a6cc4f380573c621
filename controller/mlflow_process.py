"""The MLflow mirror process: follows one experiment through the database and mirrors it.

    python -m rfconsole.controller.mlflow_process     # started by MirrorProcess, not by hand

The controller (`mlflow_supervisor.MirrorProcess`) starts it and writes one JSON
line on its stdin: the database URL (which may hold a password, hence not on the
command line), the experiment, the tracking URI and the settings. The process
then polls the database every `poll_interval` seconds — one small read while
nothing changed (the experiment's revision), else the ids of the runs written
since the previous poll, less a margin for transactions still committing — and
hands them to an `MlflowBridge`. The controller closing our stdin means the
experiment ended: one last poll, the bridge writes what is left, and the
process exits (0: MLflow has everything; 3: some changes were not written).

What the mirror has to say (MLflow unreachable, back again) goes out as JSON
lines `{"kind": ..., "message": ...}` on stdout, for the controller's
experiment log; the last line holds the pass count and CPU seconds spent.
Tracebacks go to stderr, which the controller points at its controller.log.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from datetime import timedelta
from typing import IO, Any

from rfconsole.db import Store, StoreError
from rfconsole.db import mirror as follow

from .mlflow_bridge import MlflowBridge

LOGGER = logging.getLogger("rfconsole.controller")

# A run stamped this long before a poll read may commit after it: the next poll looks back as far.
COMMIT_MARGIN = timedelta(seconds=5)
EXIT_BEHIND = 3  # closed before MLflow took every change
STATS = "mirror_stats"  # the last line's kind: {"passes": n, "cpu_seconds": s}
NICENESS = 19  # below training in the CPU scheduler's eyes: the mirror may lag, training may not


def main(stdin: IO[str] | None = None, stdout: IO[str] | None = None) -> int:
    source = stdin or sys.stdin
    sink = stdout or sys.stdout
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING,
                        format="%(asctime)s %(levelname)s mlflow-mirror: %(message)s")
    try:
        settings: dict[str, Any] = json.loads(source.readline())
        for key in ("db", "experiment_id", "experiment_name", "tracking_uri"):
            settings[key]  # noqa: B018  (present, or KeyError)
    except (ValueError, KeyError, TypeError):
        print("rfconsole: the MLflow mirror process expects its settings as one JSON line.",
              file=sys.stderr)
        return 2
    lock = threading.Lock()

    def report(kind: str, message: str, **extra: Any) -> None:
        with lock:
            try:
                sink.write(json.dumps({"kind": kind, "message": message, **extra}) + "\n")
                sink.flush()
            except (OSError, ValueError):  # the controller is gone: nobody to tell
                pass

    ended = threading.Event()
    threading.Thread(target=_wait_for_eof, args=(source, ended), name="rfconsole-mirror-stdin",
                     daemon=True).start()
    store = Store.open(settings["db"], create=False)
    try:
        bridge = MlflowBridge(
            store, int(settings["experiment_id"]), str(settings["experiment_name"]),
            str(settings["tracking_uri"]), report=report,
            flush_interval=float(settings.get("flush_interval", 1.0)),
            max_backoff=float(settings.get("max_backoff", 30.0)),
            close_timeout=float(settings.get("close_timeout", 10.0)))
        bridge.start()
        _follow(store, bridge, float(settings.get("poll_interval", 0.25)), ended)
        caught_up = bridge.close()
        report(STATS, "", passes=bridge.passes, cpu_seconds=time.process_time())
    finally:
        store.close()
    return 0 if caught_up else EXIT_BEHIND


def lower_priority() -> None:
    """Let training have the CPU first (the mirror may lag; training may not)."""
    if hasattr(os, "nice"):
        try:
            os.nice(NICENESS)
        except OSError:
            pass


def _wait_for_eof(source: IO[str], ended: threading.Event) -> None:
    try:
        while source.readline():
            pass
    finally:
        ended.set()


def _follow(store: Store, bridge: MlflowBridge, poll_interval: float,
            ended: threading.Event) -> None:
    """Mark the runs that change until `ended`, then once more (the experiment's last writes)."""
    experiment_id = bridge.experiment_id
    seen: follow.Changes | None = None
    failing = False
    while True:
        last = ended.is_set()
        try:
            since = None if seen is None else seen.read_at - COMMIT_MARGIN
            now = follow.changes(store, experiment_id, since, None if seen is None else seen.revision)
        except Exception as exc:  # the database busy or away: the next poll tries again
            if not failing:  # said once, not four times a second
                text = exc.message if isinstance(exc, StoreError) else repr(exc)
                LOGGER.warning("could not read the experiment's changes (retrying): %s", text)
            failing = True
        else:
            failing = False
            if seen is None:
                bridge.mark_all()
            elif now.revision != seen.revision:
                bridge.mark(now.run_ids)
            seen = now
        if last:
            return
        ended.wait(poll_interval)


if __name__ == "__main__":
    lower_priority()
    sys.exit(main())
