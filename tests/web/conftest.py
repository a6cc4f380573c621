"""Web dashboard fixtures: a real dispatcher on a free port over a fresh database, Debian's
chromium driven by Playwright (never a downloaded browser), a page that records console
errors and requests to other origins, and the demo controller in a thread."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import sync_playwright
from rfconsole.controller import Controller
from rfconsole.controller.demo import DemoTrainer, demo_configs
from rfconsole.db import Store, experiment_log, experiments, metrics, runs
from rfconsole.dispatcher import create_app
from rfconsole.dispatcher.server import DispatcherServer

CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "web"
SCHEMA = {
    "type": "object",
    "properties": {"learning_rate": {"type": "number", "exclusiveMinimum": 0},
                   "model": {"type": "object", "properties": {"width": {"type": "integer", "minimum": 1}}}},
}


def wait_for(condition: Callable[[], Any], timeout: float = 15.0, page: Any = None) -> Any:
    """Poll `condition` until true; with `page`, wait through it so that its events arrive."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {condition}")
        if page is not None:
            page.wait_for_timeout(50)
        else:
            time.sleep(0.05)


def seed(store: Store, root: Path, name: str = "exp-a", count: int = 5,
         statuses: tuple[str, ...] = ("ONGOING", "NEW", "COMPLETED", "STOPPED", "FAILED")) -> list[int]:
    """An experiment with `count` runs (statuses cycling), a metric history and log lines."""
    path = root / "experiments" / name
    with store.write() as session:
        experiment = experiments.create_experiment(
            session, name=name, experiment_path=str(path), num_chunks=4, num_epochs=2,
            config={"dataset": "toy"}, config_schema=SCHEMA)
        ids = []
        for index in range(count):
            run = runs.create_run(session, experiment_id=experiment.id, num_chunks=4, num_epochs=2,
                                  config_leaf={"learning_rate": round(0.1 / (index + 1), 5),
                                               "model": {"width": 8 * (index % 7 + 1)}})
            ids.append(run.run_id)
            status = statuses[index % len(statuses)]
            if status != "NEW":
                runs.update_run(session, run.run_id, status=status, num_chunks_visited=index % 8,
                                current_chunk=index % 4,
                                metrics={"val_loss": 1.0 / (index + 1), "val_accuracy": index / (count + 1)})
        for step in range(1, 6):
            metrics.append_metrics(session, run_id=ids[0], values={"val_loss": 1 / step, "val_accuracy": step / 10},
                                   epoch=0, chunk=step % 4, step=step)
    for component, message in [("controller", "experiment started"),
                               ("interactive-control", "stop of run 4 applied"),
                               ("controller", "chunk 1 done")]:
        experiment_log.append(path, name, component, "INFO", message)
    return ids


@dataclass
class Served:
    url: str
    store: Store
    root: Path


@pytest.fixture
def serve(store: Store, tmp_path: Path) -> Iterator[Callable[..., Served]]:
    servers: list[DispatcherServer] = []

    def start(**options: Any) -> Served:
        server = DispatcherServer(create_app(store, **options), host="127.0.0.1", port=0)
        server.start()
        servers.append(server)
        return Served(server.url, store, tmp_path)

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not os.access(CHROMIUM, os.X_OK):
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing; .ci/run installs Debian's chromium.")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
        yield launched
        launched.close()


@dataclass
class Watched:
    """A page, and what it did that it should not: console errors, requests elsewhere."""

    page: Any
    base: str
    errors: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)
    requests: list[Any] = field(default_factory=list)
    statuses: list[tuple[str, int]] = field(default_factory=list)

    def open(self, served: Served) -> Any:
        self.base = served.url
        self.page.goto(served.url + "/")
        return self.page

    def shot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path))
        return path


@pytest.fixture
def watched(browser: Any) -> Iterator[Watched]:
    context = browser.new_context(viewport={"width": 1400, "height": 860})
    page = context.new_page()
    page.set_default_timeout(15_000)
    seen = Watched(page, "")

    def on_console(message: Any) -> None:
        if message.type == "error":
            seen.errors.append(message.text)

    def on_request(request: Any) -> None:
        seen.requests.append(request)
        parts = urlsplit(request.url)
        if parts.scheme not in ("data", "blob", "about") and seen.base and \
                f"{parts.scheme}://{parts.netloc}" != seen.base:
            seen.foreign.append(request.url)

    page.on("console", on_console)
    page.on("pageerror", lambda error: seen.errors.append(str(error)))
    page.on("request", on_request)
    page.on("response", lambda response: seen.statuses.append((response.url, response.status)))
    yield seen
    context.close()
    assert seen.errors == [], f"the page logged errors: {seen.errors}"
    assert seen.foreign == [], f"the page asked another origin: {seen.foreign}"


@pytest.fixture
def demo(store: Store, tmp_path: Path) -> Iterator[Callable[..., Controller]]:
    """The demo's numpy trainer under a real Controller in a thread (ended after the test)."""
    started: list[tuple[Controller, threading.Thread]] = []

    def start(runs_count: int = 3, chunks: int = 40, epochs: int = 5, pace: float = 0.15) -> Controller:
        controller = Controller(store, "demo-web", demo_configs(runs_count), DemoTrainer(), num_chunks=chunks,
                                num_epochs=epochs, pace=pace, experiment_path=tmp_path / "demo-web",
                                poll_interval=0.05)
        thread = threading.Thread(target=controller.run, daemon=True)
        thread.start()
        started.append((controller, thread))
        return controller

    yield start
    for controller, thread in started:
        controller.request_end()
        thread.join(30)


def run_of(store: Store, run_id: int) -> Any:
    with store.read() as session:
        return runs.get_run(session, run_id)
