"""Data-layer latency: the controller heartbeat and IC-op requests, p50/p95, on SQLite or a server.

    .venv/bin/python benchmarks/bench_db.py [--db postgresql+psycopg://user@host/db] [--count 500]

Without --db the benchmark makes an SQLite file in a temporary folder. With a server URL it
works in a schema of its own, dropped at the end. The heartbeat is one UPDATE in its own
transaction; an IC request (stop, then resume after settling) reads the run, locks it on a
server database, checks the rules and inserts the op.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from rfconsole.db import Store, experiments, ic_ops, mask_url, runs
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url


def _figures(name: str, times: list[float]) -> None:
    ordered = sorted(times)
    p95 = ordered[int(len(ordered) * 0.95) - 1]
    print(f"{name:<28} p50 {statistics.median(ordered) * 1000:7.3f} ms   p95 {p95 * 1000:7.3f} ms   n={len(times)}")


def _measure(count: int, call: Callable[[], None]) -> list[float]:
    times = []
    for _ in range(count):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return times


def run(url: str, count: int) -> None:
    store = Store.open(url)
    try:
        with store.write() as session:
            experiment = experiments.create_experiment(session, name="bench", experiment_path="/tmp/bench")
            run_id = runs.create_run(session, experiment_id=experiment.id, config_leaf={"lr": 0.1},
                                     num_chunks=4, num_epochs=2).run_id
            runs.update_run(session, run_id, status="ONGOING")
        print(f"database: {mask_url(store.engine.url)}")
        _figures("record_heartbeat", _measure(count, lambda: experiments.record_heartbeat(store, experiment.id)))

        times = []
        for _ in range(count):
            start = time.perf_counter()
            with store.write() as session:
                op = ic_ops.request_stop(session, run_id=run_id, origin="bench")
            times.append(time.perf_counter() - start)
            with store.write() as session:
                ic_ops.mark_completed(session, op.ic_id)
        _figures("request_stop (one request)", times)
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="a server database URL (default: a temporary SQLite file)")
    parser.add_argument("--count", type=int, default=500)
    args = parser.parse_args()
    if not args.db:
        with tempfile.TemporaryDirectory() as folder:
            run(f"sqlite:///{Path(folder) / 'bench.db'}", args.count)
        return
    schema = f"rfc_bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(args.db)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    try:
        url = make_url(args.db).update_query_dict({"options": f"-csearch_path={schema}"})
        run(url.render_as_string(hide_password=False), args.count)
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


if __name__ == "__main__":
    main()
