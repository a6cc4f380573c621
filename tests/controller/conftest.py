"""A fast, deterministic trainer and helpers to drive a Controller from a test."""

from __future__ import annotations

import importlib.util
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from rfconsole.controller import ChunkContext, Controller, ControllerEvent
from rfconsole.db import Store, ic_ops, metrics, runs

# The PyTorch tests are slow as a whole: importing torch alone takes seconds. A run that leaves
# slow tests out (`pytest -m "not slow"`) does not even import their modules.
TORCH_TEST_MODULES = ("test_torch_adapter.py", "test_torch_controller.py", "test_torch_demo.py")


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if collection_path.name in TORCH_TEST_MODULES and _leaves_out_slow_tests(config):
        return True
    return None


def _leaves_out_slow_tests(config: pytest.Config) -> bool:
    return " ".join(str(config.getoption("markexpr") or "").split()) == "not slow"


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


# --- a real MLflow tracking server, for the MLflow mirror's tests ------------------------------

MLFLOW_START_SECONDS = 300  # its first start creates its tables; a loaded machine is slow


def _no_server(reason: str) -> None:
    """In CI a missing MLflow server is a failure; elsewhere the tests are skipped, saying why."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"The MLflow tests need an MLflow server and CI must provide one: {reason}")
    pytest.skip(f"no MLflow server to test against: {reason}")


def _mlflow_executable() -> str | None:
    """RFCONSOLE_TEST_MLFLOW_SERVER (the `mlflow` command of an environment holding the full
    `mlflow` package, as .ci/run installs it), else the full package in this environment."""
    configured = os.environ.get("RFCONSOLE_TEST_MLFLOW_SERVER")
    if configured:
        return configured
    if importlib.util.find_spec("alembic") is None:  # mlflow-skinny alone cannot serve
        return None
    return shutil.which("mlflow", path=str(Path(sys.executable).parent))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`mlflow server` on a free loopback port with a SQLite store, for the whole session."""
    if importlib.util.find_spec("mlflow") is None:
        _no_server("the MLflow client is not installed (pip install -e '.[test]')")
    executable = _mlflow_executable()
    if executable is None:
        _no_server("set RFCONSOLE_TEST_MLFLOW_SERVER to an `mlflow` command of the full mlflow "
                   "package, or pip install mlflow")
    # Imported here, once: the tests' own MLflow reads and the mirror's background thread
    # importing it at the same moment trip over MLflow's circular imports.
    import mlflow.tracking  # noqa: F401

    folder = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = (folder / "server.log").open("wb")
    env = {key: value for key, value in os.environ.items() if not key.startswith("MLFLOW_")}
    # Its own home folder, and no usage reports sent anywhere (nor from the tests' client).
    env.update(HOME=str(folder), MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    process = subprocess.Popen(
        [str(executable), "server", "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}",
         "--artifacts-destination", str(folder / "artifacts"), "--host", "127.0.0.1",
         "--port", str(port), "--workers", "1"],
        cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def healthy() -> bool:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                return bool(answer.status == 200)
        except OSError:
            return False

    try:
        deadline = time.monotonic() + MLFLOW_START_SECONDS
        while not healthy():
            if process.poll() is not None or time.monotonic() > deadline:
                tail = (folder / "server.log").read_text(errors="replace")[-800:]
                _no_server(f"`mlflow server` did not come up: {tail}")
            time.sleep(0.5)
        yield url
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)  # the server and its workers
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
        log.close()


class Gate:
    """A TCP forwarder in front of a server that can be shut (connections refused, open ones
    cut) and opened again on the same port: the server "goes down" and "comes back"."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._listener: socket.socket | None = None
        self._open_sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    def open(self) -> None:
        listener = socket.socket()
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("127.0.0.1", self.port))
            listener.listen(64)
        except OSError:
            listener.close()
            raise
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def shut(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            try:
                listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() blocked on it
            except OSError:
                pass
            listener.close()
        with self._lock:
            for sock in self._open_sockets:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()
            self._open_sockets.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # shut
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open_sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    @staticmethod
    def _pump(one: socket.socket, other: socket.socket) -> None:
        try:
            while True:
                ready, _, _ = select.select([one, other], [], [], 1.0)
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    (other if sock is one else one).sendall(data)
        except (OSError, ValueError):
            return
        finally:
            one.close()
            other.close()


@pytest.fixture
def gate(mlflow_server: str) -> Iterator[Gate]:
    """A Gate in front of the session's MLflow server, open."""
    forwarder = Gate(int(mlflow_server.rsplit(":", 1)[1]))
    forwarder.open()
    yield forwarder
    forwarder.shut()


@pytest.fixture
def kit() -> Any:
    """The helpers above, for test modules (conftest is not importable by name)."""
    import types

    return types.SimpleNamespace(
        CountingTrainer=CountingTrainer, Recorder=Recorder, request=request, run_of=run_of,
        op_of=op_of, losses=losses, run_in_thread=run_in_thread, wait_for=wait_for, Gate=Gate)
