"""Dispatcher latency: p50/p95 per route and size, in one process.

    .venv/bin/python benchmarks/bench_dispatcher.py [--client test|socket] [--sizes 1000,10000]

`--client test` (default) calls the WSGI app in-process through Flask's test
client: the figures are the app's own cost (routing, validation, database,
encoding). `--client socket` sends real HTTP requests over one keep-alive
connection to a Waitress `DispatcherServer` in the same process.
The benchmark seeds its own database in a temporary folder.

get-all-runs is measured in four situations:
  full rebuild   a fresh app made with prewarm=False: nothing cached (create_app
                 normally encodes the current experiment's runs at start-up)
  one run changed   a run was written since the last request (a live experiment):
                    the ETag changes, only that run is read and encoded again
  unchanged      same revision, no If-None-Match: the cached body
  304            If-None-Match with the current ETag
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rfconsole.db import Store, experiments, runs
from rfconsole.db.configs import flatten
from rfconsole.db.models import Run
from rfconsole.dispatcher import create_app
from rfconsole.dispatcher.server import DispatcherServer
from sqlalchemy import insert

LIST = "/dispatcher/get-all-runs"


def seed(store: Store, folder: Path, name: str, count: int) -> tuple[int, list[int]]:
    """An experiment with `count` ONGOING runs of realistic size; returns (id, run ids)."""
    now = datetime.now(timezone.utc)
    with store.write() as session:
        experiment = experiments.create_experiment(
            session, name=name, experiment_path=str(folder / name), num_chunks=12, num_epochs=3)
    rows = []
    for i in range(count):
        config = {"learning_rate": 10 ** -(1 + i % 4), "batch_size": 32 * (1 + i % 4),
                  "model": {"hidden": 64 + i % 7, "layers": 2, "activation": "relu"},
                  "optimizer": {"name": "adam", "betas": [0.9, 0.999]}, "seed": i}
        rows.append({
            "experiment_id": experiment.id, "run_name": f"run_{i + 1}", "status": "ONGOING",
            "config_leaf": config, "flattened_config": flatten(config),
            "metrics": {"train_loss": 0.5 + i % 10 / 100, "val_loss": 0.6, "val_accuracy": 0.81},
            "current_chunk": i % 12, "num_chunks": 12, "current_epoch": 1, "num_epochs": 3,
            "num_chunks_visited": 12 + i % 12, "completed_steps": 100, "total_steps": 300,
            "source": "USER", "warm_start": False, "checkpoint_path": None,
            "created_at": now, "updated_at": now,
        })
    with store.write() as session:
        for start in range(0, count, 2000):
            session.execute(insert(Run), rows[start:start + 2000])
        experiments.bump_revision(session, experiment.id)
    with store.read() as session:
        ids = [r.run_id for r in runs.list_runs(session, experiment_id=experiment.id)]
    return experiment.id, ids


class TestClientCaller:
    def __init__(self, app: Any) -> None:
        self.client = app.test_client()

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes, Any]:
        r = self.client.get(path, headers=headers or {})
        return r.status_code, r.data, r.headers

    def post(self, path: str, body: dict[str, Any]) -> tuple[int, bytes, Any]:
        r = self.client.post(path, data=json.dumps(body), content_type="application/json")
        return r.status_code, r.data, r.headers

    def close(self) -> None:
        pass


class SocketCaller:
    def __init__(self, url: str) -> None:
        host, port = url.removeprefix("http://").rsplit(":", 1)
        self.conn = http.client.HTTPConnection(host, int(port))

    def _call(self, method: str, path: str, body: bytes | None,
              headers: dict[str, str]) -> tuple[int, bytes, Any]:
        self.conn.request(method, path, body=body, headers=headers)
        r = self.conn.getresponse()
        return r.status, r.read(), r.headers

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes, Any]:
        return self._call("GET", path, None, headers or {})

    def post(self, path: str, body: dict[str, Any]) -> tuple[int, bytes, Any]:
        return self._call("POST", path, json.dumps(body).encode(),
                          {"Content-Type": "application/json"})

    def close(self) -> None:
        self.conn.close()


def measure(label: str, call: Callable[[], Any], repeat: int,
            before: Callable[[], Any] | None = None) -> dict[str, float]:
    """p50/p95 of `call` in ms; `before` (untimed) runs ahead of each call."""
    samples = []
    for index in range(repeat + min(10, repeat)):
        if before is not None:
            before()
        start = time.perf_counter()
        call()
        if index >= min(10, repeat):  # the first few warm up
            samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    p50 = statistics.median(samples)
    p95 = samples[min(len(samples) - 1, int(len(samples) * 0.95))]
    print(f"{label:<46} p50 {p50:8.3f} ms   p95 {p95:8.3f} ms   (n={repeat})", flush=True)
    return {"p50": p50, "p95": p95}


class Bench:
    def __init__(self, store: Store, client: str) -> None:
        self.store = store
        self.client = client
        self.server: DispatcherServer | None = None
        self.caller = self._caller(create_app(store))

    def _caller(self, app: Any) -> Any:
        if self.client == "test":
            return TestClientCaller(app)
        if self.server is not None:
            self.caller.close()
            self.server.stop()
        self.server = DispatcherServer(app, port=0)
        self.server.start()
        return SocketCaller(self.server.url)

    def close(self) -> None:
        self.caller.close()
        if self.server is not None:
            self.server.stop()

    def fresh_app(self) -> None:
        # Without the start-up warm-up: the worst case, nothing encoded yet.
        self.caller = self._caller(create_app(self.store, prewarm=False))

    def listing(self, headers: dict[str, str] | None = None) -> tuple[int, bytes, Any]:
        return self.caller.get(LIST, headers)

    def run_size(self, size: int, ids: list[int]) -> None:
        status, body, headers = self.listing()
        assert status == 200
        assert len(json.loads(body)) == size
        heavy = size >= 10000
        measure(f"get-all-runs {size:>5} runs, full rebuild", self.listing,
                5 if heavy else 30, before=self.fresh_app)
        changing = itertools.cycle(ids)

        def write_one_run() -> None:
            with self.store.write() as session:
                runs.update_run(session, next(changing), metrics={"train_loss": 0.1})

        measure(f"get-all-runs {size:>5} runs, one run changed", self.listing,
                40 if heavy else 200, before=write_one_run)
        measure(f"get-all-runs {size:>5} runs, unchanged", self.listing, 300)
        etag = self.listing()[2]["ETag"]
        assert self.listing({"If-None-Match": etag})[0] == 304
        measure(f"get-all-runs {size:>5} runs, 304", lambda: self.listing({"If-None-Match": etag}),
                1000)
        middle = ids[len(ids) // 2]
        measure(f"get-run ({size} runs)",
                lambda: self.caller.post("/dispatcher/get-run", {"run_id": middle}), 2000)
        stoppable = iter(ids[len(ids) // 2 + 1:])

        def stop() -> None:
            status, body, _ = self.caller.post("/dispatcher/stop-run", {"run_id": next(stoppable)})
            assert status == 200, body

        measure(f"stop-run ({size} runs)", stop, min(1000, len(ids) // 2 - 20))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--client", choices=("test", "socket"), default="test")
    parser.add_argument("--sizes", default="1000,10000")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        store = Store.open(str(Path(folder) / "bench.db"))
        bench = Bench(store, args.client)
        print(f"client: {args.client}; one process")
        try:
            measure("health-check (framework floor)",
                    lambda: bench.caller.get("/dispatcher/health-check"), 2000)
            for size in (int(s) for s in args.sizes.split(",")):
                _, ids = seed(store, Path(folder), f"bench-{size}", size)
                bench.run_size(size, ids)
        finally:
            bench.close()
            store.close()


if __name__ == "__main__":
    main()
