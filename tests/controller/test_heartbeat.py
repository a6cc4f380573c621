"""The controller's heartbeat: regular beats from their own thread, whatever the chunks do."""

from __future__ import annotations

import threading
import time

import pytest
from rfconsole.controller import events
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


@pytest.mark.slow
def test_a_running_controller_beats_during_a_long_chunk_and_while_waiting(
        store, make_controller, recorder, kit, monkeypatch):
    from rfconsole.db import experiments

    beats: list[float] = []
    record = experiments.record_heartbeat

    def recorded(store_, experiment_id):
        record(store_, experiment_id)
        beats.append(time.monotonic())

    monkeypatch.setattr(experiments, "record_heartbeat", recorded)
    trainer = kit.CountingTrainer(seconds=3.0)  # never checks should_stop: a 3 s chunk
    marks = {}
    trainer.hooks[(1, 0)] = lambda: marks.update(chunk=time.monotonic())
    trainer.hooks[(1, 1)] = lambda: setattr(trainer, "seconds", 0.0)  # the stop applies after it
    recorder.then(lambda e: e.kind == events.CHUNK_DONE,
                  lambda: kit.request(store, "STOP", 1))
    recorder.then(lambda e: e.kind == events.EXPERIMENT_WAITING,
                  lambda: marks.update(waiting=time.monotonic()))
    controller = make_controller([{"lr": 0.1}], trainer=trainer, num_chunks=4, num_epochs=1)
    thread = kit.run_in_thread(controller)
    assert kit.wait_for(lambda: "waiting" in marks and any(b > marks["waiting"] + 1.5
                                                           for b in beats), timeout=30)
    with store.read() as session:
        seen = experiments.get_experiment(session, controller.experiment_id).controller_seen_at
    controller.request_end()
    thread.join(10)
    assert seen is not None
    # beats went on while the 3 s chunk trained (measured by the chunk's own start and end, not
    # by how fast this machine is) and while the experiment waited (the wait above)
    [long_chunk] = [call for call in trainer.calls if (call.run_id, call.position) == (1, 0)]
    assert long_chunk.ended > marks["chunk"]
    assert any(marks["chunk"] < b < long_chunk.ended for b in beats)
