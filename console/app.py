"""The Textual app: `make_app(store, ...)` builds it for the CLI, the tests and the benchmarks."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rfconsole.db import Store
from rfconsole.db.models import ExperimentRead, RunRead
from textual import on, work
from textual.app import App
from textual.binding import Binding
from textual.message import Message
from textual.reactive import reactive
from textual.screen import ModalScreen

from .commands import OpsCommands
from .key_order import KeysInOrder
from .ops import CLOSED_EXPERIMENT_STATUSES, READONLY_MESSAGE, VERBS, OpOutcome, console_origin, request_ops, summarize
from .polling import PollingScreen
from .runs_screen import ExperimentShown, OpsApplied, RunsScreen

CSS_FILE = Path(__file__).with_name("rfconsole.tcss")
# What + and - keep the refresh interval within; the floor is --refresh's own minimum, so
# that - never makes a shorter interval given on the command line longer.
MIN_REFRESH_SECONDS = 0.1
MAX_REFRESH_SECONDS = 60.0


def shown_database(store: Store) -> str:
    """The database as the header names it: its file (home as ~), or its URL without password."""
    path = store.path
    if path is None:
        return store.url
    try:
        return "~/" + str(path.resolve().relative_to(Path.home()))
    except (ValueError, RuntimeError, OSError):
        return str(path)


class ConsoleApp(KeysInOrder):
    """rfconsole's operator console."""

    CSS_PATH = CSS_FILE
    TITLE = "rfconsole"
    COMMANDS = App.COMMANDS | {OpsCommands}
    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("question_mark", "help", "Help"),
    ]

    # The live refresh's settings (p, + and -): the status line and the polling screens
    # watch them.
    refresh_interval: reactive[float] = reactive(1.0)
    refresh_paused: reactive[bool] = reactive(False)
    # The experiment chosen with `e` (None: the running one, else the latest); the runs
    # screen watches it and starts over.
    chosen_experiment_id: reactive[int | None] = reactive(None)

    class OpsRequested(Message):
        def __init__(self, outcomes: list[OpOutcome], error: str | None = None) -> None:
            super().__init__()
            self.outcomes = outcomes
            self.error = error

    def __init__(self, store: Store, *, readonly: bool = False, refresh: float = 1.0,
                 dispatcher_url: str | None = None, dispatcher_error: str | None = None,
                 experiment: str | None = None, origin: str | None = None,
                 exit_on_hangup: bool = False, database: str | None = None,
                 new_database: bool = False) -> None:
        super().__init__()
        self.exit_on_hangup = exit_on_hangup
        # Called (in the event loop) when a hang-up quits the app, before it exits.
        self.on_hangup: Callable[[], None] | None = None
        self.database = database or shown_database(store)
        self.new_database = new_database
        self.title = f"rfconsole · {self.database}"
        self.store = store
        self.readonly = readonly
        self.refresh_interval = refresh
        self.dispatcher_url = dispatcher_url
        self.dispatcher_error = dispatcher_error
        self.experiment_name = experiment
        self.current_experiment: ExperimentRead | None = None
        self.origin = origin or console_origin()

    @property
    def dispatcher_status(self) -> str:
        if self.dispatcher_error:
            return f"dispatcher not running: {self.dispatcher_error}"
        if self.dispatcher_url:
            return f"dispatcher {self.dispatcher_url}/dispatcher"
        return "dispatcher off"

    def get_default_screen(self) -> RunsScreen:
        return RunsScreen()

    def on_mount(self) -> None:
        if self.exit_on_hangup:
            self._exit_on_hangup()
        if self.new_database:
            self.notify(f"{self.database} did not exist: a new, empty database was made there. "
                        f"Check --db (or RFCONSOLE_DB) if you meant another one.",
                        title="New database", severity="warning", markup=False, timeout=15)
        if self.dispatcher_error:
            self.notify(self.dispatcher_error, title="Dispatcher not started", severity="error",
                        markup=False,
                        timeout=10)

    def _exit_on_hangup(self) -> None:
        """SIGHUP (the terminal closed) and SIGTERM (`kill`, `timeout`) quit as q does."""
        loop = asyncio.get_running_loop()
        for name in ("SIGHUP", "SIGTERM"):
            signum = getattr(signal, name, None)
            if signum is None:
                continue
            try:
                loop.add_signal_handler(signum, self._hung_up)
            except (NotImplementedError, RuntimeError, ValueError):
                pass  # no signals here (Windows, or not the main thread)

    def _hung_up(self) -> None:
        if self.on_hangup is not None:
            self.on_hangup()
        self.exit()

    @property
    def runs_screen(self) -> RunsScreen:
        screen = self.screen_stack[0]
        assert isinstance(screen, RunsScreen)
        return screen

    # --- navigation -------------------------------------------------------------

    def action_help(self) -> None:
        from .dialogs import HelpScreen, key_sections

        screen = self.screen
        if not isinstance(screen, HelpScreen):
            self.open_dialog(HelpScreen(key_sections(screen), readonly=self.readonly,
                                        filter_help=isinstance(screen, RunsScreen)))

    def open_dialog(self, dialog: ModalScreen[Any], callback: Any = None) -> None:
        """Open a dialog over the current screen; earlier toasts go, so none covers it."""
        self.clear_notifications()
        self.push_screen(dialog, callback)

    def open_detail(self, run_id: int) -> None:
        from .detail_screen import RunDetailScreen

        self.push_screen(RunDetailScreen(run_id))

    def open_logs(self) -> None:
        from .logs_screen import LogsScreen

        if self.current_experiment is None:
            self.notify("There is no experiment yet, so there is no log to show.")
            return
        self.push_screen(LogsScreen(self.current_experiment))

    def open_experiments(self) -> None:
        from .experiments_screen import ExperimentsScreen

        def chosen(experiment_id: int | None) -> None:
            if experiment_id is not None and (
                    self.current_experiment is None or experiment_id != self.current_experiment.id):
                self.chosen_experiment_id = experiment_id  # the runs screen starts over

        current = self.current_experiment.id if self.current_experiment else None
        self.open_dialog(ExperimentsScreen(current), chosen)

    # --- the live refresh ---------------------------------------------------------

    def action_pause(self) -> None:
        self.refresh_paused = not self.refresh_paused

    def action_slower(self) -> None:
        self._set_interval(self.refresh_interval * 2)

    def action_faster(self) -> None:
        self._set_interval(self.refresh_interval / 2)

    def _set_interval(self, seconds: float) -> None:
        self.refresh_interval = min(MAX_REFRESH_SECONDS, max(MIN_REFRESH_SECONDS, round(seconds, 2)))

    # --- IC ops -------------------------------------------------------------------

    def refuse_op(self) -> bool:
        """Say why no op can be requested here and now (before any dialog opens), if so."""
        if self.readonly:
            self.notify(READONLY_MESSAGE, severity="warning")
            return True
        experiment = self.current_experiment
        if experiment is not None and experiment.status in CLOSED_EXPERIMENT_STATUSES:
            self.notify(f"The experiment {experiment.name!r} has {experiment.status}; IC ops "
                        f"apply only while it runs or after it was cancelled.",
                        severity="warning", markup=False)
            return True
        return False

    def queue_op(self, operation: str, runs: list[RunRead]) -> None:
        """Stop, resume or delete the given runs; delete and bulk ops ask first."""
        if self.refuse_op():
            return
        if not runs:
            self.notify("There is no run under the cursor.", severity="warning")
            return
        run_ids = [run.run_id for run in runs]
        if operation != "DELETE" and len(runs) == 1:
            self.request_in_thread(operation, run_ids)
            return
        from .dialogs import ConfirmScreen

        verb = VERBS[operation]
        names = ", ".join(f"{run.run_name} (id {run.run_id}, {run.status})" for run in runs[:8])
        if len(runs) > 8:
            names += f" and {len(runs) - 8} more"
        what = f"run {names}" if len(runs) == 1 else f"{len(runs)} runs: {names}"
        detail = (" Deleted runs are marked KILLED at once and cannot be resumed."
                  if operation == "DELETE" else "")
        question = f"{verb.capitalize()} {what}?{detail}"

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.request_in_thread(operation, run_ids)

        self.open_dialog(ConfirmScreen(question, confirm_label=verb.capitalize(),
                                       danger=operation == "DELETE"), confirmed)

    def open_clone(self, run: RunRead | None, targets: list[RunRead] | None = None) -> None:
        """Clone-modify `run`, or apply the edit made to its config to each of `targets`."""
        if self.refuse_op():
            return
        if run is None:
            self.notify("There is no run under the cursor.", severity="warning")
            return
        from .clone_screen import CloneScreen

        experiment = self.current_experiment
        schema = experiment.config_schema if experiment else None

        def done(outcomes: list[OpOutcome] | None) -> None:
            if outcomes:
                self.post_message(self.OpsRequested(outcomes))

        self.open_dialog(CloneScreen(run, schema, targets), done)

    @work(thread=True, group="ops", exit_on_error=False)
    def request_in_thread(self, operation: str, run_ids: list[int]) -> None:
        try:
            outcomes = request_ops(self.store, operation, run_ids, origin=self.origin,
                                   experiment=self.current_experiment)
        except Exception as exc:  # a database failure, not a refusal
            self.post_message(self.OpsRequested([], f"The {VERBS[operation]} request could not "
                                                    f"be saved ({type(exc).__name__}); try again."))
            return
        self.post_message(self.OpsRequested(outcomes))

    @on(OpsRequested)
    def _ops_requested(self, message: OpsRequested) -> None:
        if message.error:
            self.notify(message.error, severity="error", markup=False)
            return
        text, refused = summarize(message.outcomes)
        self.notify(text, severity="warning" if refused else "information", markup=False,
                    timeout=8 if refused else 4)
        # The runs screen clears the marks the ops used and reads again; so does the screen
        # in front, if another.
        self.runs_screen.post_message(OpsApplied([o.run_id for o in message.outcomes]))
        if isinstance(self.screen, PollingScreen) and self.screen is not self.runs_screen:
            self.screen.poll_now()

    @on(ExperimentShown)
    def _experiment_shown(self, message: ExperimentShown) -> None:
        self.current_experiment = message.experiment


def make_app(store: Store, *, readonly: bool = False, refresh: float = 1.0,
             dispatcher_url: str | None = None, dispatcher_error: str | None = None,
             experiment: str | None = None, origin: str | None = None,
             exit_on_hangup: bool = False, new_database: bool = False,
             database: str | None = None) -> ConsoleApp:
    """Build the console on an open Store (the caller owns and closes it). With
    `exit_on_hangup`, SIGHUP and SIGTERM quit it as q does; `new_database` says once that
    the database was just made (a mistyped --db); `database` names it in the header (by
    default its file, or its URL without password)."""
    return ConsoleApp(store, readonly=readonly, refresh=refresh, dispatcher_url=dispatcher_url,
                      dispatcher_error=dispatcher_error, experiment=experiment, origin=origin,
                      exit_on_hangup=exit_on_hangup, new_database=new_database,
                      database=database)


__all__ = ["ConsoleApp", "make_app"]
