"""Controller benchmarks: bookkeeping per chunk, and IC-op latency from request to applied.

    .venv/bin/python benchmarks/bench_controller.py            # everything (about 2 minutes)
    .venv/bin/python benchmarks/bench_controller.py --quick    # smaller samples

Bookkeeping: a trainer that does nothing, so each chunk costs only the
controller's own work (scheduling, claiming ops, writing progress, metrics and
history in one transaction, the checkpoint file). Figures are the times between
consecutive chunk completions once every run has started. Targets: <= 2 ms per
chunk with 100 live runs, <= 5 ms with 1,000.

Op latency: one run trained with 1 s chunks; a stop is requested at a random
moment, then a resume once the stop is applied; latency is processed_at minus
created_at of the op. Targets (p50): a stop within one chunk time + 0.2 s when
the trainer never checks, within 0.3 s with the cooperative check.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from rfconsole.controller import ChunkContext, Controller, events
from rfconsole.controller.demo import DemoTrainer, demo_configs
from rfconsole.db import Store, ic_ops, runs


class NoopTrainer:
    def create_model(self, config: Any) -> dict[str, int]:
        return {}

    def train_chunk(self, model: Any, context: ChunkContext) -> dict[str, float]:
        return {"loss": 0.5, "accuracy": 0.5}

    def get_state(self, model: Any) -> dict[str, int]:
        return {}

    def set_state(self, model: Any, state: Any) -> None:
        pass


class SleepyTrainer(NoopTrainer):
    """Chunks of `seconds`; with `cooperative`, it checks should_stop every 10 ms."""

    def __init__(self, seconds: float, cooperative: bool) -> None:
        self.seconds = seconds
        self.cooperative = cooperative

    def train_chunk(self, model: Any, context: ChunkContext) -> dict[str, float]:
        if not self.cooperative:
            time.sleep(self.seconds)
        else:
            deadline = time.monotonic() + self.seconds
            while time.monotonic() < deadline and not context.should_stop():
                time.sleep(0.01)
        return {"loss": 0.5}


def percentiles(values: list[float]) -> str:
    ordered = sorted(values)

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]

    return (f"n={len(ordered)} p50={pick(0.5):.3f} p95={pick(0.95):.3f} "
            f"max={ordered[-1]:.3f} mean={statistics.fmean(ordered):.3f}")


def bench_bookkeeping(folder: Path, live_runs: int, passes: int) -> list[float]:
    store = Store.open(str(folder / f"bookkeeping-{live_runs}.db"))
    completions: list[float] = []

    def on_event(event: events.ControllerEvent) -> None:
        if event.kind == events.CHUNK_DONE:
            completions.append(time.perf_counter())

    controller = Controller(store, f"noop-{live_runs}", [{"i": i} for i in range(live_runs)],
                            NoopTrainer(), num_chunks=passes, num_epochs=1, on_event=on_event)
    controller.run()
    store.close()
    steady = completions[live_runs:]  # after the first pass, when every run has started
    return [(b - a) * 1000 for a, b in zip(steady, steady[1:], strict=False)]


def bench_op_latency(folder: Path, name: str, trainer: Any, pace: float,
                     samples: int) -> tuple[list[float], list[float]]:
    store = Store.open(str(folder / f"latency-{name}.db"))
    controller = Controller(store, name, demo_configs(1) if isinstance(trainer, DemoTrainer)
                            else [{"i": 0}], trainer, num_chunks=100_000, num_epochs=1, pace=pace)
    thread = threading.Thread(target=controller.run, daemon=True)
    thread.start()
    stops: list[float] = []
    resumes: list[float] = []
    rng = random.Random(7)
    run_id = 1
    for _ in range(samples):
        time.sleep(rng.uniform(0.3, 1.3))  # a random moment within a chunk
        stops.append(_request_and_wait(store, "STOP", run_id))
        resumes.append(_request_and_wait(store, "RESUME", run_id))
    controller.request_end()
    thread.join(30)
    store.close()
    return stops, resumes


def _request_and_wait(store: Store, operation: str, run_id: int) -> float:
    with store.write() as session:
        op = ic_ops.request_op(session, operation, run_id=run_id, origin="bench")
    while True:
        with store.read() as session:
            settled = ic_ops.get_op(session, op.ic_id)
            status = runs.get_run(session, run_id).status
        if settled.status != "PENDING":
            if settled.status != "COMPLETED":
                raise RuntimeError(
                    f"{operation} ended {settled.status}: {settled.error} ({status})")
            return (settled.processed_at - settled.created_at).total_seconds()
        time.sleep(0.005)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller samples")
    args = parser.parse_args(argv)
    samples = 6 if args.quick else 15
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        print("Bookkeeping per chunk (ms), no-op trainer, 1 worker:")
        for live_runs, passes in ((100, 6 if args.quick else 20), (1000, 3 if args.quick else 4)):
            gaps = bench_bookkeeping(folder, live_runs, passes)
            target = 2.0 if live_runs <= 100 else 5.0
            print(f"  {live_runs:>5} live runs: {percentiles(gaps)}  (target p50 <= {target} ms)")
        print("IC-op latency, request to applied (s), pace 1 s:")
        cases = (
            ("blocking", SleepyTrainer(1.0, cooperative=False), 1.0, "<= 1.2 s (one chunk + 0.2)"),
            ("cooperative", SleepyTrainer(1.0, cooperative=True), 1.0, "<= 0.3 s"),
            ("demo", DemoTrainer(), 1.0, "<= 0.3 s (the pace wait checks too)"),
        )
        for name, trainer, pace, target in cases:
            stops, resumes = bench_op_latency(folder, name, trainer, pace, samples)
            print(f"  {name:>11} stop:   {percentiles(stops)}  (target p50 {target})")
            print(f"  {name:>11} resume: {percentiles(resumes)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
