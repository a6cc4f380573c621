"""Keys typed in a burst are handled one after the other, each by the widget focused at its turn.

Textual hands every key to the focused widget as soon as it arrives, and the
binding it triggers runs later, when the key has bubbled back up to the app.
Typed fast (a paste, or a slow SSH link delivering several keys at once),
`/stopped` reached the runs table whole before `/` had opened the filter, so
`s` queued a stop. Here the app hands a key on only once the previous one has
been dealt with, and once the screen it opened is mounted and has its focus:
after `/`, `c`, `o`, `?` or the palette, the rest of the burst goes to that widget.

A key has been dealt with when a marker message, posted to the same widget
right after it, bubbles back to the app: messages are handled in order, so the
marker arrives after the key's own binding ran. If the marker is lost (the
widget went away), the keys move on after a short limit anyway.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any

from textual import events, on
from textual.app import App
from textual.message import Message
from textual.timer import Timer

# How long a key may wait for the one before it, or for a screen to take its focus.
SETTLE_LIMIT_SECONDS = 0.5
RETRY_SECONDS = 0.01


class KeyHandled(Message):
    """Follows a key to the widget it went to and bubbles back to the app after it."""


class KeysInOrder(App[Any]):
    """An App whose keys are handed on one at a time (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._held_keys: deque[events.Key] = deque()
        self._key_in_flight_since: float | None = None
        self._waiting_since: float | None = None
        self._key_retry: Timer | None = None

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key) and not event.is_forwarded:
            self._held_keys.append(event)
            await self._hand_on_keys()
            return
        await super().on_event(event)

    @property
    def keys_waiting(self) -> int:
        """Keys received and not yet dealt with (the one in flight included)."""
        return len(self._held_keys) + (self._key_in_flight_since is not None)

    def input_ready(self) -> bool:
        """True once the active screen is mounted and has focused what it meant to focus."""
        screen = self.screen
        if not screen.is_mounted:
            return False
        return screen.focused is not None or not screen.focus_chain

    async def _hand_on_keys(self) -> None:
        now = time.monotonic()
        while self._held_keys:
            if self._key_in_flight_since is not None:
                if now - self._key_in_flight_since < SETTLE_LIMIT_SECONDS:
                    self._retry_later()
                    return
                self._key_in_flight_since = None  # its marker was lost with its widget
            if not self.input_ready():
                self._waiting_since = self._waiting_since or now
                if now - self._waiting_since < SETTLE_LIMIT_SECONDS:
                    self._retry_later()
                    return
            self._waiting_since = None
            key = self._held_keys.popleft()
            screen = self.screen
            target = self.focused or screen
            self._key_in_flight_since = now
            await super().on_event(key)
            if self.screen is not screen:
                # A priority binding closed or replaced the screen at once: the key is dealt
                # with, and a marker sent into the closing screen would be lost.
                self._key_in_flight_since = None
                continue
            target.post_message(KeyHandled())

    def _retry_later(self) -> None:
        if self._key_retry is None:
            self._key_retry = self.set_timer(RETRY_SECONDS, self._retry)

    async def _retry(self) -> None:
        self._key_retry = None
        await self._hand_on_keys()

    @on(KeyHandled)
    async def _key_handled(self, message: KeyHandled) -> None:
        message.stop()
        self._key_in_flight_since = None
        await self._hand_on_keys()
