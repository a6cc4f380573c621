"""A fast, deterministic trainer and helpers to drive a Controller from a test."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from rfconsole.controller import ChunkContext, Controller, ControllerEvent
from rfconsole.db import Store, ic_ops, metrics, runs


@dataclass
class ChunkCall:
    run_id: int
    position: int
    epoch: int
    chunk: int
    started: float
    ended: float = 0.0
    interrupted: bool = False


@dataclass
class CountingTrainer:
    """model = {"w": float}; each chunk adds config["lr"] to w and reports loss = 1 / (1 + w).

    So a model's loss tells how many chunks (of which learning rate) it has seen:
    a warm clone's first loss continues its parent's, a cold one's starts over.
    `hooks[(run_id, position)]` runs inside that chunk (to queue ops mid-chunk);
    `seconds` makes chunks take time; `cooperative` checks should_stop every 10 ms.
    """

    seconds: float = 0.0
    cooperative: bool = False
    fail_at: set[tuple[int, int]] = field(default_factory=set)
    hooks: dict[tuple[int, int], Callable[[], None]] = field(default_factory=dict)
    calls: list[ChunkCall] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def create_model(self, config: Any) -> dict[str, float]:
        if float(config["lr"]) <= 0:
            raise ValueError("lr must be positive")
        return {"w": 0.0, "lr": float(config["lr"])}

    def train_chunk(self, model: dict[str, float], context: ChunkContext) -> dict[str, float]:
        call = ChunkCall(context.run_id, context.position, context.epoch, context.chunk,
                         time.monotonic())
        with self.lock:
            self.calls.append(call)
        hook = self.hooks.pop((context.run_id, context.position), None)
        if hook is not None:
            hook()
        if (context.run_id, context.position) in self.fail_at:
            raise RuntimeError(f"boom at {context.position}")
        deadline = time.monotonic() + self.seconds
        while time.monotonic() < deadline:
            if self.cooperative and context.should_stop():
                call.interrupted = True
                break
            time.sleep(0.01 if self.cooperative else self.seconds)
        model["w"] += model["lr"]
        call.ended = time.monotonic()
        return {"loss": 1.0 / (1.0 + model["w"]), "w": model["w"]}

    def get_state(self, model: dict[str, float]) -> dict[str, float]:
        return {"w": model["w"]}

    def set_state(self, model: dict[str, float], state: dict[str, float]) -> None:
        model["w"] = state["w"]

    def positions(self, run_id: int) -> list[int]:
        return [c.position for c in self.calls if c.run_id == run_id and not c.interrupted]


class Recorder:
    """Collects controller events; `then(kind, action)` runs an action on an event, once."""

    def __init__(self) -> None:
        self.events: list[ControllerEvent] = []
        self._actions: list[tuple[Callable[[ControllerEvent], bool], Callable[[], None]]] = []

    def then(self, match: Callable[[ControllerEvent], bool], action: Callable[[], None]) -> None:
        self._actions.append((match, action))

    def __call__(self, event: ControllerEvent) -> None:
        self.events.append(event)
        for entry in list(self._actions):
            match, action = entry
            if match(event):
                self._actions.remove(entry)
                action()

    def kinds(self, run_id: int | None = None) -> list[str]:
        return [e.kind for e in self.events if run_id is None or e.run_id == run_id]


def request(store: Store, operation: str, run_id: int, **kwargs: Any) -> Any:
    with store.write() as session:
        return ic_ops.request_op(session, operation, run_id=run_id, origin="test", **kwargs)


def run_of(store: Store, run_id: int) -> Any:
    with store.read() as session:
        return runs.get_run(session, run_id)


def op_of(store: Store, ic_id: int) -> Any:
    with store.read() as session:
        return ic_ops.get_op(session, ic_id)


def losses(store: Store, run_id: int) -> list[float]:
    with store.read() as session:
        history = metrics.metric_history(session, run_id=run_id, names=["loss"])
    return [point.value for point in history.get("loss", [])]


def wait_for(condition: Callable[[], Any], timeout: float = 10.0) -> bool:
    """Poll `condition` until it is true (True) or `timeout` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return False


@pytest.fixture
def trainer() -> CountingTrainer:
    return CountingTrainer()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def make_controller(store: Store, tmp_path: Any, trainer: CountingTrainer, recorder: Recorder):
    def make(configs: list[dict[str, Any]] | None = None, name: str = "exp",
             **kwargs: Any) -> Controller:
        kwargs.setdefault("num_chunks", 3)
        kwargs.setdefault("num_epochs", 2)
        kwargs.setdefault("on_event", recorder)
        kwargs.setdefault("poll_interval", 0.02)
        return Controller(store, name, configs or [{"lr": 0.1}, {"lr": 0.2}],
                          kwargs.pop("trainer", trainer), **kwargs)

    return make


def run_in_thread(controller: Controller) -> threading.Thread:
    thread = threading.Thread(target=controller.run, daemon=True)
    thread.start()
    return thread


@pytest.fixture
def kit() -> Any:
    """The helpers above, for test modules (conftest is not importable by name)."""
    import types

    return types.SimpleNamespace(
        CountingTrainer=CountingTrainer, Recorder=Recorder, request=request, run_of=run_of,
        op_of=op_of, losses=losses, run_in_thread=run_in_thread, wait_for=wait_for)
