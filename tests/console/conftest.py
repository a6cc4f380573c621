"""Seeded experiments with fixed values and times, and helpers to drive the console in tests."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from rfconsole.console.app import ConsoleApp, make_app
from rfconsole.db import Store, experiment_log, experiments, ic_ops, metrics, runs
from rfconsole.db.models import Experiment, InteractiveControl, Metric, Run
from sqlalchemy import update
from textual.widgets import Input, TextArea

FIXED_TIME = datetime(2026, 1, 15, 9, 30, tzinfo=timezone.utc)
ORIGIN = "console:ana@gpu1"
DISPATCHER_URL = "http://127.0.0.1:8081"
SCHEMA = {
    "type": "object",
    "properties": {
        "lr": {"type": "number", "exclusiveMinimum": 0},
        "batch_size": {"type": "integer", "minimum": 1},
        "width": {"type": "integer", "minimum": 1},
        "optimizer": {"type": "string", "enum": ["sgd", "adam"]},
    },
    "required": ["lr", "batch_size"],
}
CONFIGS = [
    {"lr": 0.1, "batch_size": 32, "width": 64, "optimizer": "adam"},
    {"lr": 0.03, "batch_size": 32, "width": 128, "optimizer": "adam"},
    {"lr": 0.01, "batch_size": 64, "width": 64, "optimizer": "adam"},
    {"lr": 0.003, "batch_size": 64, "width": 128, "optimizer": "adam"},
    {"lr": 0.001, "batch_size": 128, "width": 64, "optimizer": "adam"},
    {"lr": 0.0003, "batch_size": 128, "width": 128, "optimizer": "adam"},
]
# status, chunks visited (of 4 chunks x 3 epochs), checkpoint?, error
STATES = [
    ("ONGOING", 7, True, None),
    ("COMPLETED", 12, True, None),
    ("STOPPED", 5, True, None),
    ("NEW", 0, False, None),
    ("FAILED", 3, True, "CUDA out of memory while training chunk 4"),
    ("ONGOING", 6, True, None),
]
LOG_LINES = [
    ("controller", "INFO", "experiment cifar-sweep started with 6 runs"),
    ("controller", "INFO", "run 1 trained chunk 1 of epoch 1: val_loss 2.1"),
    ("interactive-control", "INFO", "stop of run 3 applied (op 1)"),
    ("controller", "ERROR", "run 5 failed: CUDA out of memory while training chunk 4"),
    ("console", "INFO", "clone-modify of run 3 requested by console:ana@gpu1 (op 2); new run 7"),
    ("interactive-control", "INFO", "clone-modify of run 3 applied: run 7 starts warm (op 2)"),
]


@dataclass
class Seeded:
    experiment_id: int
    run_ids: list[int]
    clone_id: int
    experiment_path: Path


def seed_experiment(store: Store, folder: Path, name: str = "cifar-sweep") -> Seeded:
    """One running experiment: six runs in every status, a warm clone, metrics, ops, a log."""
    path = folder / "experiments" / name
    with store.write() as session:
        experiment = experiments.create_experiment(
            session, name=name, experiment_path=str(path), num_chunks=4, num_epochs=3,
            config={"dataset": "cifar10"}, config_schema=SCHEMA)
        run_ids = []
        for index, (config, (status, visited, checkpoint, error)) in enumerate(
                zip(CONFIGS, STATES, strict=True)):
            run = runs.create_run(session, experiment_id=experiment.id, config_leaf=config,
                                  num_chunks=4, num_epochs=3, total_steps=1200)
            run_ids.append(run.run_id)
            steps = visited * 100
            history = []
            for chunk in range(1, visited + 1):
                decay = math.exp(-chunk * config["lr"] * 4) if config["lr"] > 0.005 else 1 - chunk * 0.03
                values = {
                    "train_loss": round(2.3 * decay + 0.05 * index, 4),
                    "val_loss": round(2.4 * decay + 0.07 * index + 0.02 * (chunk % 3), 4),
                    "train_accuracy": round(min(0.99, 0.1 + 0.07 * chunk + 0.01 * index), 4),
                    "val_accuracy": round(min(0.97, 0.1 + 0.065 * chunk + 0.005 * index), 4),
                }
                history.append(values)
                metrics.append_metrics(session, run_id=run.run_id, values=values,
                                       epoch=(chunk - 1) // 4, chunk=(chunk - 1) % 4,
                                       step=chunk * 100, timestamp=FIXED_TIME)
            runs.update_run(
                session, run.run_id, status=status, num_chunks_visited=visited,
                current_chunk=visited % 4, current_epoch=min(3, visited // 4 + (status != "COMPLETED")),
                num_epochs_completed=visited // 4, completed_steps=steps,
                metrics=history[-1] if history else {},
                checkpoint_path=str(path / f"run_{run.run_id}.ckpt") if checkpoint else None,
                error=error)
        stop = ic_ops.request_stop(session, run_id=run_ids[5], origin=ORIGIN)
        ic_ops.mark_skipped(session, stop.ic_id, "run 6 had already finished its chunk; stopped next")
        clone = ic_ops.request_clone_modify(session, run_id=run_ids[2], origin=ORIGIN,
                                            config_patch={"lr": 0.005}, warm_start=True)
        ic_ops.mark_completed(session, clone.ic_id)
        assert clone.new_run_id is not None
        session.execute(update(Run).values(created_at=FIXED_TIME, updated_at=FIXED_TIME))
        session.execute(update(Experiment).values(created_at=FIXED_TIME))
        session.execute(update(Metric).values(timestamp=FIXED_TIME))
        session.execute(update(InteractiveControl).values(
            created_at=FIXED_TIME, claimed_at=FIXED_TIME, processed_at=FIXED_TIME))
    log = experiment_log.log_file(path)
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("".join(experiment_log.format_line(name, component, level, message,
                                                      when=FIXED_TIME) + "\n"
                           for component, level, message in LOG_LINES))
    return Seeded(experiment.id, run_ids, clone.new_run_id, path)


@pytest.fixture
def seeded(store: Store, tmp_path: Path) -> Seeded:
    return seed_experiment(store, tmp_path)


def console_app(store: Store, **settings: Any) -> ConsoleApp:
    settings.setdefault("dispatcher_url", DISPATCHER_URL)
    settings.setdefault("origin", ORIGIN)
    settings.setdefault("refresh", 0.2)
    settings.setdefault("database", "~/runs/cifar.db")  # the same in every snapshot
    return make_app(store, **settings)


async def wait_until(pilot: Any, condition: Any, timeout: float = 10.0, what: str = "") -> None:
    """Let the app run until `condition()` holds (refreshes are asynchronous)."""
    import asyncio

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        await pilot.pause(0.05)


async def wait_for_refresh(pilot: Any, screen: Any = None, count: int = 1) -> None:
    """Wait for the screen's next `count` completed refreshes."""
    screen = screen or pilot.app.screen
    target = screen.refresh_count + count
    await wait_until(pilot, lambda: screen.refresh_count >= target, what="a refresh")
    await pilot.pause()


def stop_blinking(app: Any) -> None:
    """Snapshots must not depend on where a blinking cursor was."""
    for screen in app.screen_stack:
        for widget in [*screen.query(Input), *screen.query(TextArea)]:
            widget.cursor_blink = False


async def wait_for_data(pilot: Any, screen: Any = None) -> None:
    """Wait until the screen has shown its first read (the runs screen: and its sparklines)."""
    screen = screen or pilot.app.screen
    await wait_until(pilot, lambda: screen.refresh_count >= 1 and not getattr(screen, "sparks_wanted", False),
                     what="the first read")
    await pilot.pause()


def notifications(app: Any) -> list[str]:
    """The texts of the notifications the app has shown."""
    return [notification.message for notification in app._notifications]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def kit() -> Any:
    """The helpers above, for test modules (which cannot import conftest under importlib mode)."""
    from types import SimpleNamespace

    return SimpleNamespace(
        ORIGIN=ORIGIN, FIXED_TIME=FIXED_TIME, console_app=console_app, wait_until=wait_until,
        wait_for_data=wait_for_data, wait_for_refresh=wait_for_refresh,
        stop_blinking=stop_blinking, seed_experiment=seed_experiment, notifications=notifications)
