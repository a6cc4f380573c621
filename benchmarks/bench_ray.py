"""The Ray executor against threads: the per-chunk overhead, and a stop's latency.

    .venv/bin/python benchmarks/bench_ray.py                     # starts a local Ray (2 CPUs)
    .venv/bin/python benchmarks/bench_ray.py --address HOST:PORT # on a running cluster
    .venv/bin/python benchmarks/bench_ray.py --quick             # smaller samples

Needs the ray extra (pip install -e '.[ray]'). The trainer is the numpy demo's
(its chunks take a few milliseconds), on SQLite in a temporary folder.

Per-chunk overhead: the same experiment (2 runs, 2 workers, no pace) with each
executor; a chunk's time is from its submission to its outcome in the
controller with Ray, from a worker thread picking it up to its end with threads
(the pool's queue is not counted), and the figure is the median over the chunks
after each run's first (whose actor start is shown apart). On a shared machine
the difference is within a few milliseconds of noise: run it twice. With more runs than workers, an idle
actor is ended to free its slot for the next run, which then starts an actor and
loads its checkpoint: that case is shown too.

Stop latency: one run whose chunks last 3 s (the demo trainer with a pace,
which waits checking should_stop every 50 ms); a stop is requested at a random
moment of a chunk and the run resumed once it is applied. Latency is the op's
processed_at minus its created_at. Target: 0.3 s.
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

from rfconsole.controller import Controller, ControllerEvent, events
from rfconsole.controller.numpy_demo import DemoTrainer, demo_configs
from rfconsole.db import Store, ic_ops, runs


def chunk_times(folder: Path, executor: str, *, runs_count: int, workers: int, chunks: int,
                address: str | None) -> tuple[list[float], list[float], float]:
    """(first chunk of each run, later chunks, wall time) in seconds."""
    durations: dict[int, list[float]] = {}

    def on_event(event: ControllerEvent) -> None:
        if event.kind == events.CHUNK_DONE and event.run_id is not None:
            details = event.details or {}
            durations.setdefault(event.run_id, []).append(details["ended"] - details["started"])

    store = Store.open(f"sqlite:///{folder / f'{executor}-{runs_count}.db'}")
    try:
        controller = Controller(store, "bench", demo_configs(runs_count), DemoTrainer(), num_chunks=chunks,
                                num_epochs=1, workers=workers, executor=executor, ray_address=address,
                                experiment_path=folder / f"{executor}-{runs_count}", on_event=on_event)
        started = time.monotonic()
        controller.run()
        wall = time.monotonic() - started
    finally:
        store.close()
    firsts = [times[0] for times in durations.values()]
    later = [t for times in durations.values() for t in times[1:]]
    return firsts, later, wall


def stop_latencies(folder: Path, executor: str, samples: int, address: str | None) -> list[float]:
    store = Store.open(f"sqlite:///{folder / f'stop-{executor}.db'}")
    latencies: list[float] = []
    done = threading.Event()
    chunk_started = threading.Event()

    def on_event(event: ControllerEvent) -> None:
        if event.kind in (events.RUN_STARTED, events.RUN_RESUMED, events.CHUNK_DONE):
            chunk_started.set()

    try:
        controller = Controller(store, "stops", demo_configs(1), DemoTrainer(), num_chunks=1000, num_epochs=1,
                                workers=1, pace=3.0, executor=executor, ray_address=address,
                                experiment_path=folder / f"stop-{executor}", on_event=on_event)
        thread = threading.Thread(target=lambda: (controller.run(), done.set()), daemon=True)
        thread.start()
        for _ in range(samples):
            chunk_started.wait(120)
            chunk_started.clear()
            while 1 not in controller.rotation.busy:  # the next chunk is under way
                time.sleep(0.01)
            time.sleep(random.uniform(0.5, 2.0))  # a random moment of the 3 s chunk
            with store.write() as session:
                stop = ic_ops.request_op(session, "STOP", run_id=1, origin="bench")
            while True:
                with store.read() as session:
                    op = ic_ops.get_op(session, stop.ic_id)
                if op.status != "PENDING":
                    break
                time.sleep(0.005)
            assert op.processed_at is not None
            latencies.append((op.processed_at - op.created_at).total_seconds())
            with store.write() as session:
                ic_ops.request_op(session, "RESUME", run_id=1, origin="bench")
        controller.request_end()
        thread.join(60)
        with store.read() as session:
            assert runs.get_run(session, 1).status in ("STOPPED", "ONGOING")
    finally:
        store.close()
    return latencies


def ms(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{statistics.median(values) * 1000:7.1f} ms (median of {len(values)})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--address", help="a running Ray cluster (default: start a local one)")
    parser.add_argument("--quick", action="store_true", help="smaller samples")
    args = parser.parse_args()
    try:
        import ray
    except ImportError:
        print("bench_ray needs Ray: pip install -e '.[ray]'", file=sys.stderr)
        return 1
    ray.init(address=args.address, num_cpus=None if args.address else 2, include_dashboard=False,
             log_to_driver=False)
    chunks = 10 if args.quick else 30
    samples = 3 if args.quick else 8
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            print(f"Per chunk, from submission to outcome (numpy demo, {chunks} chunks a run, no pace):")
            results: dict[tuple[str, int], tuple[list[float], list[float], float]] = {}
            for runs_count in (2, 4):
                for executor in ("threads", "ray"):
                    results[executor, runs_count] = chunk_times(
                        folder, executor, runs_count=runs_count, workers=2, chunks=chunks, address=args.address)
                    firsts, later, wall = results[executor, runs_count]
                    print(f"  {executor:7} {runs_count} runs / 2 workers: first chunk {ms(firsts)}, "
                          f"later chunks {ms(later)}, experiment {wall:.1f} s")
                overhead = (statistics.median(results["ray", runs_count][1])
                            - statistics.median(results["threads", runs_count][1]))
                print(f"  Ray overhead per chunk with {runs_count} runs: {overhead * 1000:.1f} ms")
            print("Stop latency, request to applied (3 s chunks, a random moment):")
            for executor in ("threads", "ray"):
                latencies = stop_latencies(folder, executor, samples, args.address)
                print(f"  {executor:7} {ms(latencies)}, max {max(latencies) * 1000:.0f} ms (target 300 ms)")
    finally:
        ray.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
