"""Console speed and memory, measured headless with Textual's test driver.

    .venv/bin/python benchmarks/bench_console.py [--runs 10000] [--start-runs 1000]

Prints, with p50/p95 over repeated trials:
  * start to first painted table with --start-runs runs, and with --runs runs
    (target <= 1 s at 10,000), and until the sparklines are in too;
  * one refresh (database read + table update) with --runs runs when a few
    runs changed, and when nothing changed (target <= 100 ms);
  * the part of a refresh that runs on the UI thread (what could delay a key);
  * key press to screen: from the key event to the drawing of the table line
    the cursor moved to, while refreshes run and with none (target p95 <= 50 ms).
    Pilot.press is not used for it: it waits for the app to be idle, which alone
    takes about 60 ms on a trivial app;
  * peak resident memory of the console process (target <= 250 MB).
Each database is seeded by a child process, so its memory is not counted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

PROCESS_STARTED = time.perf_counter()  # before rfconsole, Textual and SQLAlchemy are imported
POINTS_PER_RUN = 12
METRICS = ("train_loss", "val_loss", "val_accuracy")


def seed(db: str, runs: int) -> None:
    """Bulk-insert one running experiment with `runs` runs and their metric history."""
    from rfconsole.db import Store, experiments
    from rfconsole.db.configs import flatten
    from rfconsole.db.models import Metric, Run
    from sqlalchemy import insert

    store = Store.open(db)
    rng = random.Random(7)
    now = datetime.now(timezone.utc) - timedelta(minutes=5)
    with store.write() as session:
        experiment = experiments.create_experiment(
            session, name="bench", experiment_path=str(Path(db).parent / "bench"),
            num_chunks=12, num_epochs=3)
        rows = []
        for index in range(runs):
            config = {"lr": rng.choice([0.1, 0.03, 0.01, 0.003]), "batch_size": rng.choice(
                [32, 64, 128]), "width": rng.choice([64, 128, 256]), "seed": 0}
            visited = rng.randint(0, 36)
            rows.append({
                "experiment_id": experiment.id, "run_name": f"run_{index + 1}",
                "status": rng.choice(["ONGOING", "NEW", "STOPPED", "COMPLETED"]),
                "config_leaf": config, "flattened_config": flatten(config),
                "metrics": {name: rng.random() for name in METRICS},
                "num_chunks": 12, "num_epochs": 3, "num_chunks_visited": visited,
                "current_chunk": visited % 12, "current_epoch": visited // 12,
                "created_at": now, "updated_at": now,
            })
        session.execute(insert(Run), rows)
        session.flush()
        points = [{"run_id": run_id, "epoch": 0, "chunk": step, "step": step, "name": name,
                   "value": rng.random(), "timestamp": now}
                  for run_id in range(1, runs + 1) for step in range(POINTS_PER_RUN)
                  for name in METRICS]
        for start in range(0, len(points), 50_000):
            session.execute(insert(Metric), points[start:start + 50_000])
    store.close()


def seeded_db(folder: Path, runs: int) -> str:
    db = str(folder / f"bench-{runs}.db")
    subprocess.run([sys.executable, __file__, "--seed", db, str(runs)], check=True)
    return db


def percentiles(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return (f"p50 {statistics.median(ordered) * 1000:7.1f} ms   p95 {p95 * 1000:7.1f} ms   "
            f"max {ordered[-1] * 1000:7.1f} ms   (n={len(ordered)})")


DRAWS: list[tuple[float, int, int]] = []  # (when, line, the table's height then), in order
CPU_AT_PAINT: list[float] = []  # process CPU seconds when the first table was drawn
PROCESS_CPU: dict[float, float] = {}  # a drawing's time -> process CPU seconds then


def watch_drawing() -> None:
    """Note when the runs table draws each line (the compositor asks for the lines of
    each frame just before writing it)."""
    from rfconsole.console.keyed_table import KeyedTable

    draw = KeyedTable.render_line

    def render_line(self: KeyedTable, y: int) -> object:
        strip = draw(self, y)
        now = time.perf_counter()
        DRAWS.append((now, y, self.size.height))
        PROCESS_CPU[now] = time.process_time()
        return strip

    KeyedTable.render_line = render_line  # type: ignore[method-assign]


async def drawn(line: Callable[[int, int], bool], since: float, timeout: float = 30.0) -> float:
    """perf_counter() of the first drawing after `since` of a line for which
    `line(y, height)` holds."""
    start, deadline = 0, time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        for index in range(start, len(DRAWS)):
            when, y, height = DRAWS[index]
            if when > since and line(y, height):
                return when
        start = len(DRAWS)
        await asyncio.sleep(0.001)
    raise TimeoutError("the line was not drawn")


async def first_table(app: object, runs: int, cpu: list[float] | None = None) -> tuple[float, float]:
    """perf_counter() when the table with all `runs` rows was first drawn at its full
    height down to its last line, and when again with its sparklines (the first read
    leaves them to the next, asked for once the table is on screen)."""
    screen = app.runs_screen  # type: ignore[attr-defined]
    table = screen.table
    applied: dict[str, float] = {}
    show = screen.show_data

    def timed_show(snapshot: object) -> None:
        show(snapshot)
        applied.setdefault("sparks" if snapshot.all_sparks else "runs", time.perf_counter())  # type: ignore[attr-defined]

    screen.show_data = timed_show
    while "sparks" not in applied:
        await asyncio.sleep(0.001)
    await asyncio.sleep(0.3)  # laid out by now: the table's height is its final one
    bottom = table.size.height - 1
    painted = await drawn(lambda y, height: y == bottom and height == bottom + 1, applied["runs"])
    if cpu is not None:
        cpu.append(PROCESS_CPU[painted])
    with_sparks = await drawn(lambda y, height: y == bottom, applied["sparks"])
    screen.show_data = show
    return painted, with_sparks


async def key_to_screen(app: object, key: str = "down") -> float:
    """Seconds from a key event to the drawing of the line the cursor moved to."""
    from textual import events

    table = app.runs_screen.table  # type: ignore[attr-defined]
    before = table.cursor_row
    began = time.perf_counter()
    app.post_message(events.Key(key, None))  # type: ignore[attr-defined]
    while table.cursor_row == before:
        await asyncio.sleep(0)
    line = table.cursor_row - round(table.scroll_y) + 1
    return await drawn(lambda y, height: y == line, began) - began


async def time_to_first_table(db: str, runs: int) -> tuple[float, float, float, float]:
    """Seconds from make_app, and from before the imports, to the first painted table;
    from make_app until its sparklines were in; and the CPU seconds (all threads) from
    make_app to the first painted table, a figure other processes on the machine barely
    change."""
    from rfconsole.console.app import make_app
    from rfconsole.db import Store

    watch_drawing()
    store = Store.open(db)
    started, cpu_started = time.perf_counter(), time.process_time()
    app = make_app(store, refresh=60)
    async with app.run_test(size=(160, 50)):
        painted, with_sparks = await first_table(app, runs, cpu=CPU_AT_PAINT)
    store.close()
    return (painted - started, painted - PROCESS_STARTED, with_sparks - started,
            CPU_AT_PAINT[0] - cpu_started)


def touch_runs(store: object, run_ids: list[int], tick: int) -> None:
    from rfconsole.db import runs

    with store.write() as session:  # type: ignore[attr-defined]
        for run_id in run_ids:
            runs.update_run(session, run_id, num_chunks_visited=tick % 36,
                            metrics={"val_loss": 1.0 / (tick + 1), "val_accuracy": 0.5})


async def refresh_figures(db: str, runs: int, changed_per_refresh: int,
                          trials: int) -> dict[str, list[float]]:
    from rfconsole.console.app import make_app
    from rfconsole.db import Store

    watch_drawing()
    store = Store.open(db)
    app = make_app(store, refresh=0.25)
    figures: dict[str, list[float]] = {"changed": [], "unchanged": [], "ui_thread": [],
                                       "key": [], "key_idle": []}
    started = time.perf_counter()
    async with app.run_test(size=(160, 50)):
        screen = app.runs_screen
        painted, with_sparks = await first_table(app, runs)
        figures["first_load"] = [painted - started]
        figures["first_load_sparks"] = [with_sparks - started]
        screen.table.sort_by("progress")
        app.refresh_paused = True
        for _ in range(trials):  # key presses with no refresh running, for comparison
            figures["key_idle"].append(await key_to_screen(app))
        app.refresh_paused = False
        original = screen.show_data

        def timed_show(snapshot: object) -> None:
            began = time.perf_counter()
            original(snapshot)
            figures["ui_thread"].append(time.perf_counter() - began)

        screen.show_data = timed_show  # type: ignore[method-assign]
        rng = random.Random(3)
        for tick in range(trials):
            for kind in ("changed", "unchanged"):
                if kind == "changed":
                    ids = rng.sample(range(1, runs + 1), changed_per_refresh)
                    await asyncio.to_thread(touch_runs, store, ids, tick)
                count = screen.refresh_count
                screen.poll_now()
                while screen.refresh_count == count:
                    await asyncio.sleep(0.001)
                figures[kind].append(screen.last_refresh_seconds or 0.0)
            # key presses while the next refresh is on its way (read, then shown)
            count = screen.refresh_count
            screen.poll_now()
            while screen.refresh_count == count:
                figures["key"].append(await key_to_screen(app))
    store.close()
    return figures


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(*arguments: str) -> dict:
    """Run one measurement in a fresh process, so that each starts cold and owns its memory."""
    done = subprocess.run([sys.executable, __file__, *arguments], check=True,
                          capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


async def measure_start(db: str, runs: int) -> None:
    app_start, with_imports, with_sparks, cpu = await time_to_first_table(db, runs)
    print(json.dumps({"start": app_start, "with_imports": with_imports, "with_sparks": with_sparks,
                      "cpu": cpu}))


async def measure_refresh(db: str, runs: int, changed: int, trials: int) -> None:
    figures = await refresh_figures(db, runs, changed, trials)
    print(json.dumps({**figures, "rss_mb": peak_rss_mb()}))


def print_starts(runs: int, starts: list[dict]) -> None:
    print(f"first painted table, {runs:>6} runs, from make_app:    {percentiles([s['start'] for s in starts])}")
    print(f"  the same, from before the imports:           {percentiles([s['with_imports'] for s in starts])}")
    print(f"  with the sparklines in, from make_app:       {percentiles([s['with_sparks'] for s in starts])}")
    print(f"  CPU time to the first table (all threads):   {percentiles([s['cpu'] for s in starts])}")


def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as folder:
        small = seeded_db(Path(folder), args.start_runs)
        print_starts(args.start_runs, [child("--start", small, str(args.start_runs)) for _ in range(args.trials)])
        big = args.db or seeded_db(Path(folder), args.runs)
        print_starts(args.runs, [child("--start", big, str(args.runs)) for _ in range(args.trials)])
        figures = child("--refresh", big, str(args.runs), str(args.changed), str(args.trials * 4))
        print(f"refresh, {args.runs} runs, {args.changed} changed:   "
              f"{percentiles(figures['changed'])}")
        print(f"refresh, {args.runs} runs, nothing changed: {percentiles(figures['unchanged'])}")
        print(f"  of which on the UI thread:          {percentiles(figures['ui_thread'])}")
        print(f"key press to screen during refreshes: {percentiles(figures['key'])}")
        print(f"key press to screen, no refresh:      {percentiles(figures['key_idle'])}")
        print(f"peak resident memory, {args.runs} runs:    {figures['rss_mb']:7.1f} MB")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--seed":
        seed(sys.argv[2], int(sys.argv[3]))
    elif len(sys.argv) > 1 and sys.argv[1] == "--start":
        asyncio.run(measure_start(sys.argv[2], int(sys.argv[3])))
    elif len(sys.argv) > 1 and sys.argv[1] == "--refresh":
        asyncio.run(measure_refresh(sys.argv[2], *map(int, sys.argv[3:6])))
    else:
        parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
        parser.add_argument("--runs", type=int, default=10_000)
        parser.add_argument("--start-runs", type=int, default=1_000)
        parser.add_argument("--changed", type=int, default=20, help="runs changed per refresh")
        parser.add_argument("--trials", type=int, default=5)
        parser.add_argument("--db", help="a database seeded before (--seed FILE RUNS), "
                            "reused instead of a new one; the refresh trials write to it")
        main(parser.parse_args())
