"""`rfconsole demo --headless`: run the demo experiment without the console, one line per event.

Ctrl-C ends the experiment cleanly (cancelled, runs resumable with
`--experiment NAME`) and prints a short message; a second Ctrl-C stops waiting
for the chunks in progress.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from types import FrameType
from typing import TextIO

from rfconsole.db import Store, StoreError, experiment_log

from .demo import make_demo_controller, resume_command
from .demo_trainers import TrainerUnavailable, trainer_of
from .events import ControllerEvent
from .runner import Controller

EXIT_FAILED = 1
EXIT_INTERRUPTED = 130


def event_line(event: ControllerEvent) -> str:
    return f"{datetime.now(timezone.utc):%H:%M:%S} {event.message}"


def run_demo_headless(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Run (or resume) the demo experiment in the foreground; returns the exit code."""
    stream: TextIO = out or sys.stdout
    controller: Controller | None = None

    def say(text: str) -> None:
        nonlocal stream
        try:
            print(text, file=stream, flush=True)
        except (BrokenPipeError, ValueError):  # the reader went away (`| head`): end quietly
            devnull = os.open(os.devnull, os.O_WRONLY)
            if stream is sys.stdout:  # so that the interpreter's last flush cannot fail either
                try:
                    os.dup2(devnull, sys.stdout.fileno())
                except (OSError, ValueError):
                    pass
            stream = os.fdopen(devnull, "w")
            if controller is not None:
                controller.request_end()

    try:
        store = Store.open(args.db)
    except StoreError as exc:
        print(f"rfconsole: {exc.message}", file=sys.stderr)
        return EXIT_FAILED
    try:
        controller = make_demo_controller(
            store, experiment=args.experiment, runs=args.runs, chunks=args.chunks,
            epochs=args.epochs, pace=args.pace, workers=getattr(args, "workers", 1),
            on_event=lambda event: say(event_line(event)), trainer=getattr(args, "trainer", "numpy"),
            mlflow_tracking_uri=getattr(args, "mlflow", None), ray_address=getattr(args, "ray", None),
            experiments_dir=getattr(args, "experiments_dir", None))
        say(f"Experiment {controller.experiment_name!r} in {store.url}; log: "
            f"{experiment_log.log_file(controller.experiment_path)}. Ctrl-C ends it.")
        with _ctrl_c_ends(controller.request_end, say):
            experiment = controller.run()
    except StoreError as exc:
        print(f"rfconsole: {exc.message}", file=sys.stderr)
        return EXIT_FAILED
    except TrainerUnavailable as exc:
        print(f"rfconsole: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        say("Interrupted; the experiment was cancelled.")
        return EXIT_INTERRUPTED
    except Exception as exc:
        print(f"rfconsole: the experiment failed: {exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        store.close()
    if experiment.status == "cancelled":
        command = resume_command(experiment.name, args.db, headless=True,
                                 trainer=trainer_of(controller.experiment.config_schema),
                                 ray_address=getattr(args, "ray", None))
        say(f"Experiment {experiment.name!r} cancelled; resume it with {command}")
        return EXIT_INTERRUPTED
    return 0 if experiment.status == "completed" else EXIT_FAILED


@contextmanager
def _ctrl_c_ends(request_end: Callable[[], None], say: Callable[[str], None]) -> Iterator[None]:
    """While active, the first SIGINT asks for a clean end; the second interrupts."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_sigint(signum: int, frame: FrameType | None) -> None:
        say("Ending the experiment after the chunks in progress (Ctrl-C again to stop now)...")
        request_end()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
