"""The controller's heartbeat: regular beats from their own thread, whatever the chunks do."""

from __future__ import annotations

import threading
import time

from rfconsole.controller.heartbeat import Heartbeat


def test_beats_at_once_then_regularly_and_survives_a_failed_beat(kit):
    beats: list[float] = []
    failed = threading.Event()

    def beat() -> None:
        beats.append(time.monotonic())
        if len(beats) == 2:
            failed.set()
            raise RuntimeError("database is locked")

    with Heartbeat(beat, interval=0.02):
        assert kit.wait_for(lambda: len(beats) >= 1, timeout=5)
        assert kit.wait_for(lambda: len(beats) >= 4, timeout=10)  # went on after the failure
    assert failed.is_set()
    # stopped with the block: its thread is gone
    assert "rfconsole-heartbeat" not in [thread.name for thread in threading.enumerate()]
