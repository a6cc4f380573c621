"""The MLflow mirror's cost to the training loop, per chunk (target: <= 1 ms).

    mlflow server --backend-store-uri sqlite:////tmp/bench-mlflow.db --host 127.0.0.1 --port 5000 &
    .venv/bin/python benchmarks/bench_mlflow.py --uri http://127.0.0.1:5000
    .venv/bin/python benchmarks/bench_mlflow.py --uri http://127.0.0.1:9    # MLflow unreachable

The same experiment runs with the mirror off and on (alternately, `--repeat`
times each): a no-op trainer, so that each chunk costs only the controller's own
work and anything the mirror adds shows in full, and a trainer whose chunks
sleep 20 ms, like real training that releases the GIL. Figures: the training
loop's time per chunk (between chunk completions; the medians of the repeats)
and the difference, in the second half of the chunks (steady state) and in the
first (which holds the mirror's first pass: it creates every MLflow run); the
mirror thread's CPU time per chunk; the cost of handing one event to the mirror
(the only work it does on the training thread); and how long the mirror took
after the last chunk to have everything in MLflow.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from rfconsole.controller import ChunkContext, Controller, events
from rfconsole.controller.mlflow_bridge import MlflowBridge
from rfconsole.db import Store


class NoopTrainer:
    def __init__(self, seconds: float = 0.0) -> None:
        self.seconds = seconds

    def create_model(self, config: Any) -> dict[str, int]:
        return {}

    def train_chunk(self, model: Any, context: ChunkContext) -> dict[str, float]:
        if self.seconds:
            time.sleep(self.seconds)
        return {"loss": 0.5, "accuracy": 0.5, "lr": 0.1}

    def get_state(self, model: Any) -> dict[str, int]:
        return {}

    def set_state(self, model: Any, state: Any) -> None:
        pass


def one_run(folder: Path, uri: str | None, runs: int, chunks: int,
            seconds: float) -> tuple[float, float, float, float]:
    """(ms per chunk of the training loop in the first half of the chunks, in the second half,
    seconds from the last chunk to caught up, CPU ms per chunk of the mirror's thread)."""
    store = Store.open(str(folder / f"{uuid.uuid4().hex}.db"))
    done: list[float] = []

    def on_event(event: events.ControllerEvent) -> None:
        if event.kind == events.CHUNK_DONE:
            done.append(time.perf_counter())

    configs = [{"lr": 0.01 * (i + 1), "model": {"width": 32, "depth": 2}} for i in range(runs)]
    controller = Controller(store, f"bench-{uuid.uuid4().hex[:8]}", configs, NoopTrainer(seconds),
                            num_chunks=chunks, num_epochs=1, on_event=on_event,
                            mlflow_tracking_uri=uri)
    controller.run()
    ended = time.perf_counter()
    store.close()
    half = len(done) // 2
    first = (done[half] - done[0]) * 1000 / half
    second = (done[-1] - done[half]) * 1000 / (len(done) - 1 - half)
    cpu = controller.mirror.cpu_seconds * 1000 / len(done) if controller.mirror else 0.0
    return first, second, ended - done[-1], cpu


def event_cost(store_folder: Path, uri: str) -> float:
    """Microseconds per on_event call (the mirror's only work on the training thread)."""
    store = Store.open(str(store_folder / "events.db"))
    bridge = MlflowBridge(store, 1, "unused", uri)  # never started: only the hand-over is timed
    event = events.ControllerEvent(kind=events.CHUNK_DONE, message="", run_id=1,
                                   metrics={"loss": 0.5}, details={"position": 1})
    calls = 100_000
    started = time.perf_counter()
    for _ in range(calls):
        bridge.on_event(event)
    elapsed = time.perf_counter() - started
    store.close()
    return elapsed / calls * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uri", required=True, help="the MLflow tracking server to mirror into")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each case, mirror off and on")
    parser.add_argument("--quick", action="store_true", help="smaller experiments")
    args = parser.parse_args(argv)
    import mlflow.tracking  # noqa: F401  (its import, seconds long, is not a per-chunk cost)

    cases = [("no-op trainer, 10 runs", 10, 40 if args.quick else 200, 0.0),
             ("no-op trainer, 100 runs", 100, 10 if args.quick else 30, 0.0),
             ("20 ms chunks, 10 runs", 10, 10 if args.quick else 40, 0.02)]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        print(f"Hand-over of one event to the mirror: {event_cost(folder, args.uri):.2f} µs")
        print(f"Training loop time per chunk (ms), mirror off / on {args.uri}, medians of {args.repeat}:")
        for label, runs, chunks, seconds in cases:
            off: list[tuple[float, float, float, float]] = []
            on: list[tuple[float, float, float, float]] = []
            for _ in range(args.repeat):
                off.append(one_run(folder, None, runs, chunks, seconds))
                on.append(one_run(folder, args.uri, runs, chunks, seconds))

            def median(figures: list[tuple[float, float, float, float]], index: int) -> float:
                return statistics.median(figure[index] for figure in figures)

            print(f"  {label} ({runs * chunks} chunks):")
            for index, part in ((1, "steady (2nd half)"), (0, "start (1st half)")):
                base, mirrored = median(off, index), median(on, index)
                print(f"    {part:<18} off {base:.3f}  on {mirrored:.3f}  cost {mirrored - base:+.3f} "
                      f"ms/chunk" + ("  (target <= 1 ms)" if index == 1 else ""))
            print(f"    mirror thread CPU {median(on, 3):.3f} ms/chunk; caught up "
                  f"{median(on, 2):.2f} s after the last chunk")
    return 0


if __name__ == "__main__":
    sys.exit(main())
