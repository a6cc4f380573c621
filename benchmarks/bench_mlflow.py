"""The MLflow mirror's cost to the training loop, per chunk (target: <= 1 ms).

    mlflow server --backend-store-uri sqlite:////tmp/bench-mlflow.db --host 127.0.0.1 --port 5000 &
    .venv/bin/python benchmarks/bench_mlflow.py --uri http://127.0.0.1:5000 --server-pid $!
    .venv/bin/python benchmarks/bench_mlflow.py --uri http://127.0.0.1:9    # MLflow unreachable

The same experiment runs with the mirror off and on, interleaved (`--repeat`
times each): a no-op trainer, so that each chunk costs only the controller's own
work and anything the mirror adds shows in full, and a trainer whose chunks
sleep 20 ms, like real training that releases the GIL. Figures, medians of the
repeats, over the second half of the chunks (steady state; the first half holds
the mirror process's start — its imports take over a second of CPU — and its
first pass, which creates every MLflow run; its wall time is shown too):

- wall: the training loop's time per chunk (between chunk completions);
- CPU: the training threads' CPU time per chunk (`time.thread_time()` of the
  controller's loop thread and of the thread that runs the chunks) — work the
  mirror would put on the training path itself;
- the mirror process's CPU per chunk and, with `--server-pid`, the MLflow
  server's (its process group's): the CPU the mirror costs the machine, which
  competes with training when the server shares its cores;
- how long after the last chunk the mirror process ended, and whether MLflow
  had everything by then (the mirror gets 10 s after the experiment ends; the
  process itself starts with the experiment, and its MLflow client import takes
  seconds of CPU, so a short experiment with many runs may end first).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, NamedTuple

from rfconsole.controller import ChunkContext, Controller, events
from rfconsole.db import Store


class NoopTrainer:
    def __init__(self, seconds: float = 0.0) -> None:
        self.seconds = seconds
        self.cpu: list[float] = []  # the chunk thread's CPU clock after each chunk

    def create_model(self, config: Any) -> dict[str, int]:
        return {}

    def train_chunk(self, model: Any, context: ChunkContext) -> dict[str, float]:
        if self.seconds:
            time.sleep(self.seconds)
        self.cpu.append(time.thread_time())
        return {"loss": 0.5, "accuracy": 0.5, "lr": 0.1}

    def get_state(self, model: Any) -> dict[str, int]:
        return {}

    def set_state(self, model: Any, state: Any) -> None:
        pass


class Figures(NamedTuple):
    wall: float  # ms per chunk, steady state
    start_wall: float  # ms per chunk, first half (the mirror process starting)
    cpu: float  # training threads' CPU ms per chunk, steady state
    mirror_cpu: float  # mirror process CPU ms per chunk (whole run)
    server_cpu: float  # MLflow server CPU ms per chunk (whole run, with --server-pid)
    ended: float  # seconds from the last chunk to the mirror process's exit
    caught_up: bool  # MLflow took every change before the mirror process exited


def server_cpu_seconds(pid: int | None) -> float:
    """CPU seconds used so far by the process group of `pid` (the server and its workers)."""
    if pid is None:
        return 0.0
    group = os.getpgid(pid)
    members = subprocess.run(["pgrep", "-g", str(group)], capture_output=True, text=True).stdout
    ticks = 0
    for member in members.split():
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def one_run(folder: Path, uri: str | None, runs: int, chunks: int, seconds: float,
            server_pid: int | None) -> Figures:
    store = Store.open(str(folder / f"{uuid.uuid4().hex}.db"))
    done: list[float] = []
    loop_cpu: list[float] = []

    def on_event(event: events.ControllerEvent) -> None:
        if event.kind == events.CHUNK_DONE:  # on the controller's loop thread
            done.append(time.perf_counter())
            loop_cpu.append(time.thread_time())

    trainer = NoopTrainer(seconds)
    configs = [{"lr": 0.01 * (i + 1), "model": {"width": 32, "depth": 2}} for i in range(runs)]
    controller = Controller(store, f"bench-{uuid.uuid4().hex[:8]}", configs, trainer,
                            num_chunks=chunks, num_epochs=1, on_event=on_event,
                            mlflow_tracking_uri=uri)
    server_before = server_cpu_seconds(server_pid)
    controller.run()
    ended = time.perf_counter()
    server = server_cpu_seconds(server_pid) - server_before
    store.close()
    half = len(done) // 2
    steady = len(done) - 1 - half
    wall = (done[-1] - done[half]) * 1000 / steady
    cpu = ((loop_cpu[-1] - loop_cpu[half]) + (trainer.cpu[-1] - trainer.cpu[half])) * 1000 / steady
    mirror_cpu = controller.mirror.cpu_seconds * 1000 / len(done) if controller.mirror else 0.0
    caught_up = bool(controller.mirror and controller.mirror.caught_up)
    start_wall = (done[half] - done[0]) * 1000 / half
    return Figures(wall, start_wall, cpu, mirror_cpu, server * 1000 / len(done), ended - done[-1], caught_up)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uri", required=True, help="the MLflow tracking server to mirror into")
    parser.add_argument("--server-pid", type=int, help="the server's pid, to count its CPU time")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each case, mirror off and on")
    parser.add_argument("--quick", action="store_true", help="smaller experiments")
    parser.add_argument("--only", default="", help="only the cases whose label holds this text")
    args = parser.parse_args(argv)

    cases = [("no-op trainer, 10 runs", 10, 40 if args.quick else 200, 0.0),
             ("no-op trainer, 100 runs", 100, 10 if args.quick else 30, 0.0),
             ("20 ms chunks, 10 runs", 10, 10 if args.quick else 100, 0.02)]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        print(f"Training loop per chunk, mirror off / on {args.uri}, interleaved, "
              f"medians of {args.repeat}, steady state (2nd half of the chunks):")
        for label, runs, chunks, seconds in cases:
            if args.only not in label:
                continue
            off: list[Figures] = []
            on: list[Figures] = []
            for repeat in range(args.repeat):  # off first, then on first: no order effect
                for uri in (None, args.uri) if repeat % 2 == 0 else (args.uri, None):
                    (on if uri else off).append(
                        one_run(folder, uri, runs, chunks, seconds, args.server_pid))

            def median(figures: list[Figures], index: int) -> float:
                return statistics.median(figure[index] for figure in figures)

            print(f"  {label} ({runs * chunks} chunks):")
            for index, part in ((0, "wall ms"), (2, "training CPU ms")):
                base, mirrored = median(off, index), median(on, index)
                print(f"    {part:<16} off {base:7.3f}  on {mirrored:7.3f}  cost "
                      f"{mirrored - base:+.3f} ms/chunk  (target <= 1 ms)")
            base, mirrored = median(off, 1), median(on, 1)
            print(f"    {'start, wall ms':<16} off {base:7.3f}  on {mirrored:7.3f}  cost "
                  f"{mirrored - base:+.3f} ms/chunk  (1st half: the mirror process starting)")
            server = (f"; MLflow server CPU {median(on, 4) - median(off, 4):.3f} ms/chunk"
                      if args.server_pid else "")
            caught_up = sum(figure.caught_up for figure in on)
            print(f"    mirror process CPU {median(on, 3):.3f} ms/chunk{server}; it ended "
                  f"{median(on, 5):.2f} s after the last chunk, MLflow holding everything in "
                  f"{caught_up} of {len(on)} runs (else the rest waits for the next start)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
