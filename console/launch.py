"""`rfconsole` and `rfconsole demo`: open the store, start the dispatcher thread (and the demo's
controller), run the console, and stop everything cleanly when it quits."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rfconsole.db import Store, StoreError, experiments
from rfconsole.db.engine import resolve_db_url, sqlite_file

from .app import ConsoleApp, make_app, shown_database

EXIT_FAILED = 1
CONTROLLER_JOIN_SECONDS = 60
# After a hang-up, seconds the process may take to exit once the experiment is safe.
HANGUP_EXIT_SECONDS = 10


def _fail(message: str) -> int:
    try:
        print(f"rfconsole: {message}", file=sys.stderr)
    except OSError:
        pass  # the terminal is gone
    return EXIT_FAILED


@contextmanager
def dispatcher_thread(store: Store, args: argparse.Namespace) -> Iterator[tuple[str | None, str | None]]:
    """Serve the REST API beside the console; yields (url, None) or (None, why it did not start)."""
    if getattr(args, "no_dispatcher", False):
        yield None, None
        return
    from rfconsole.dispatcher import create_app
    from rfconsole.dispatcher.security import check_bind
    from rfconsole.dispatcher.server import DispatcherServer, ServerStartError

    token = getattr(args, "token", None)
    server = None
    try:
        check_bind(args.host, token, getattr(args, "insecure", False))
        app = create_app(store, token=token, readonly=bool(getattr(args, "readonly", False)),
                         bind_hosts=[args.host])
        server = DispatcherServer(app, host=args.host, port=args.port)
        server.start()
    except ServerStartError as exc:
        yield None, str(exc)
        return
    try:
        yield server.url + (" (token required)" if token else ""), None
    finally:
        server.stop()


def _build_app(store: Store, args: argparse.Namespace, url: str | None, error: str | None,
               experiment: str | None = None, new_database: bool = False) -> ConsoleApp:
    return make_app(store, readonly=getattr(args, "readonly", False),
                    refresh=getattr(args, "refresh", 1.0), dispatcher_url=url,
                    dispatcher_error=error, experiment=experiment, exit_on_hangup=True,
                    new_database=new_database)


HANGUP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGHUP", "SIGTERM")
                       if hasattr(signal, name))


@contextmanager
def hangups_interrupt() -> Iterator[None]:
    """While active, SIGHUP and SIGTERM (a closed terminal, `kill`, `timeout`) do what Ctrl-C
    does, so that whatever ends on Ctrl-C ends as cleanly."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        signal.raise_signal(signal.SIGINT)

    previous = {signum: signal.signal(signum, interrupt) for signum in HANGUP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextmanager
def hangups_ignored() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.signal(signum, signal.SIG_IGN) for signum in HANGUP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def exit_after_hangup(app: ConsoleApp, runner: ControllerThread | None = None) -> None:
    """Make sure a hang-up ends the process once the experiment is safe.

    The app quits as q does, but with its terminal gone the terminal library's own
    shutdown can stall for good (its output queue waiting on a closed terminal), which
    would leave the process, and a demo's experiment, "running" forever. So a watchdog
    first ends the demo's experiment (cancelled, runs resumable), then gives the normal
    exit HANGUP_EXIT_SECONDS to happen, and ends the process itself if it has not.
    """

    def watchdog() -> None:
        if runner is not None:
            runner.stop()
        threading.main_thread().join(HANGUP_EXIT_SECONDS)
        os._exit(0)  # the database is committed; nothing else is left to save

    def on_hangup() -> None:
        threading.Thread(target=watchdog, name="rfconsole-hangup", daemon=True).start()

    app.on_hangup = on_hangup


def say(text: str) -> None:
    """Print a line; the terminal may be gone (a hang-up), which must not lose the exit."""
    try:
        print(text, flush=True)
    except OSError:
        pass


def is_new_database(db: str | None) -> bool:
    """Whether opening `db` will make a new SQLite file (to say so: it may be a typo)."""
    try:
        path = sqlite_file(resolve_db_url(db) if db is None or "://" not in db else db)
    except Exception:  # an unreadable URL: opening it says what is wrong
        return False
    return path is not None and not path.exists()


def open_store(db: str | None) -> Store:
    """Open the database or raise StoreError with a sentence (never a driver traceback)."""
    try:
        return Store.open(db)
    except StoreError:
        raise
    except Exception as exc:  # e.g. a file that is not an SQLite database
        where = db or "the default database"
        raise StoreError(f"Cannot open {where}: {str(exc).splitlines()[0]}; "
                         f"check --db or RFCONSOLE_DB.") from exc


def run_console(args: argparse.Namespace) -> int:
    """The console on `--db`, with the dispatcher in a background thread."""
    new_database = is_new_database(args.db)
    try:
        store = open_store(args.db)
    except StoreError as exc:
        return _fail(exc.message)
    try:
        with dispatcher_thread(store, args) as (url, error), hangups_interrupt():
            app = _build_app(store, args, url, error, new_database=new_database)
            exit_after_hangup(app)
            app.run()
    finally:
        store.close()
    return 0


class ControllerThread:
    """Runs a Controller in a daemon thread; remembers why it failed, if it did."""

    def __init__(self, controller: Any) -> None:
        self.controller = controller
        self.error: str | None = None
        self.app: ConsoleApp | None = None
        self.thread = threading.Thread(target=self._run, name="rfconsole-controller", daemon=True)

    def _run(self) -> None:
        try:
            self.controller.run()
        except Exception as exc:
            self.error = f"The experiment's controller stopped: {exc}"
            app = self.app
            if app is not None and app.is_running:
                try:
                    app.call_from_thread(app.notify, self.error, severity="error", timeout=15,
                                         markup=False)
                except RuntimeError:
                    pass  # the app quit meanwhile

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        """Ask the controller to end the experiment (cancelled, resumable) and wait for it."""
        self.controller.request_end()
        self.thread.join(CONTROLLER_JOIN_SECONDS)


def run_demo_console(args: argparse.Namespace) -> int:
    """The demo experiment's controller in the background and the console on it."""
    from rfconsole.controller.demo import make_demo_controller, resume_command
    from rfconsole.controller.demo_trainers import TrainerUnavailable, trainer_of

    try:
        store = open_store(args.db)
    except StoreError as exc:
        return _fail(exc.message)
    try:
        try:
            controller = make_demo_controller(
                store, experiment=args.experiment, runs=args.runs, chunks=args.chunks,
                epochs=args.epochs, pace=args.pace, workers=getattr(args, "workers", 1),
                trainer=getattr(args, "trainer", "numpy"),
                mlflow_tracking_uri=getattr(args, "mlflow", None), ray_address=getattr(args, "ray", None),
                experiments_dir=getattr(args, "experiments_dir", None))
        except StoreError as exc:
            return _fail(exc.message)
        except TrainerUnavailable as exc:
            return _fail(str(exc))
        runner = ControllerThread(controller)
        with dispatcher_thread(store, args) as (url, error):
            app = _build_app(store, args, url, error, experiment=controller.experiment_name)
            runner.app = app
            exit_after_hangup(app, runner)
            try:
                with hangups_interrupt():  # until the app takes them over, then after it
                    runner.start()
                    app.run()
            finally:
                with hangups_ignored():  # already ending: let the controller finish cleanly
                    runner.stop()
        name = controller.experiment_name
        if runner.error:
            return _fail(runner.error)
        if runner.thread.is_alive():
            return _fail(f"The experiment {name!r} did not end within "
                         f"{CONTROLLER_JOIN_SECONDS} s of quitting.")
        with store.read() as session:
            status = experiments.get_experiment(session, controller.experiment_id).status
        trainer = trainer_of(controller.experiment.config_schema)
        command = resume_command(name, args.db, trainer=trainer, ray_address=getattr(args, "ray", None))
        hint = (f"; resume it with {command}"
                if status == "cancelled" else ".")
        say(f"Experiment {name!r} is {status}{hint}")
        return 0
    finally:
        store.close()


def run_demo_headless_served(args: argparse.Namespace) -> int:
    """`rfconsole demo --headless`: the demo's controller in the foreground, one line per
    event, and the REST API beside it as with the console (unless --no-dispatcher)."""
    from rfconsole.controller.cli import run_demo_headless

    if getattr(args, "no_dispatcher", False):
        with hangups_interrupt():
            return int(run_demo_headless(args))
    new_database = is_new_database(args.db)
    try:
        store = open_store(args.db)
    except StoreError as exc:
        return _fail(exc.message)
    try:
        if new_database:
            say(f"{shown_database(store)} did not exist: a new, empty database was made there.")
        with dispatcher_thread(store, args) as (url, error):
            if error:
                say(f"The dispatcher did not start: {error}")
            else:
                say(f"Dispatcher: {url}/dispatcher")
            with hangups_interrupt():
                return int(run_demo_headless(args))
    finally:
        store.close()
