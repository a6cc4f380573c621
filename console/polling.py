"""A screen that re-reads its data in a thread worker on a timer.

The next read is scheduled only after the previous one has been applied, so
reads never overlap; while another screen or a dialog is on top (or refresh is
paused) no read starts. Workers report back only by posting messages.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from rfconsole.db.errors import StoreError
from textual import on, work
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer

from .access import console_app

if TYPE_CHECKING:
    from .app import ConsoleApp


def failure_sentence(exc: BaseException) -> str:
    if isinstance(exc, StoreError):
        return exc.message
    return f"Reading the database failed ({type(exc).__name__}); retrying."


class PollingScreen(Screen[Any]):
    """Subclasses implement `read_data` (in a thread) and `show_data` (on the UI)."""

    class Loaded(Message):
        def __init__(self, result: Any, started: float) -> None:
            super().__init__()
            self.result = result
            self.started = started

    class Failed(Message):
        def __init__(self, message: str) -> None:
            super().__init__()
            self.message = message

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._poll_timer: Timer | None = None
        self._loading = False
        self._poll_again = False
        self.last_refresh_seconds: float | None = None
        self.refresh_count = 0  # reads shown
        self.tick_count = 0  # turns of the loop, those that did not read included

    @property
    def console_app(self) -> ConsoleApp:
        return console_app(self)

    # --- what subclasses provide --------------------------------------------

    def prepare_read(self) -> Any:
        """On the UI thread: what the next read needs to know (passed to read_data)."""
        return None

    def read_data(self, prepared: Any) -> Any:  # runs in a worker thread
        raise NotImplementedError

    def show_data(self, result: Any) -> None:
        raise NotImplementedError

    def show_failure(self, message: str) -> None:
        self.notify(message, severity="error", timeout=4, markup=False)

    def polling_allowed(self) -> bool:
        return not self.console_app.refresh_paused

    # --- the loop -------------------------------------------------------------

    @property
    def interval(self) -> float:
        return self.console_app.refresh_interval

    def on_mount(self) -> None:
        # Textual calls each class's on_mount in turn (subclass first): no super() call needed.
        self._tick()  # the first read runs while the first frame is drawn
        self.watch(self.app, "refresh_paused", self._pause_changed, init=False)

    def _pause_changed(self, paused: bool) -> None:
        if not paused:
            self.poll_now()

    def on_screen_resume(self) -> None:
        self.poll_now()

    def schedule_poll(self, delay: float) -> None:
        if self._poll_timer is not None:
            self._poll_timer.stop()
        self._poll_timer = self.set_timer(max(delay, 0.01), self._tick)  # 0 is not a valid timer

    def poll_now(self) -> None:
        """Read as soon as possible, after the read in flight if there is one."""
        if self._loading:
            self._poll_again = True
        elif self.is_mounted:
            self.schedule_poll(0)

    def _tick(self) -> None:
        self.tick_count += 1
        if self._loading:
            return
        if self.app.screen is not self or not self.polling_allowed():
            self.schedule_poll(self.interval)
            return
        self._loading = True
        self._poll_again = False
        self._read_in_thread(self.prepare_read(), time.perf_counter())

    # A fixed description: by default Textual would repr() the arguments (all known runs).
    @work(thread=True, exclusive=True, exit_on_error=False, group="poll", description="read")
    def _read_in_thread(self, prepared: Any, started: float) -> None:
        try:
            result = self.read_data(prepared)
        except Exception as exc:  # reported on screen; the loop goes on
            self.post_message(self.Failed(failure_sentence(exc)))
            return
        self.post_message(self.Loaded(result, started))

    @on(Loaded)
    def _loaded(self, message: Loaded) -> None:
        message.stop()
        try:
            self.show_data(message.result)
        finally:
            self.last_refresh_seconds = time.perf_counter() - message.started
            self.refresh_count += 1
            self._finish()

    @on(Failed)
    def _failed(self, message: Failed) -> None:
        message.stop()
        self.show_failure(message.message)
        self._finish()

    def _finish(self) -> None:
        self._loading = False
        self.schedule_poll(0 if self._poll_again else self.interval)
