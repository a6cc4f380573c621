"""rfconsole's dispatcher side by side with RapidFire AI's, over real sockets, interleaved.

    .venv/bin/python benchmarks/bench_vs_rapidfire.py [--runs 1000] [--big 10000] [--rounds 5]
        [--only small,listing,keepalive,clients,serve]

RapidFire AI's dispatcher comes from its PyPI wheel (0.16.1), installed once into
a virtual environment in the temporary folder (reused by later runs), seeded
with the same number of runs and served by gunicorn with its own config (one
worker, gthread with one thread: its safe setting). rfconsole is served by
`rfconsole serve` (Waitress); the client figures at 8 and 32 clients also run
rfconsole under gunicorn with dispatcher/gunicorn.conf.py (one worker), with
its 8 threads and with RapidFire's one. Both servers run in their own processes.

Absolute times move with the machine's load, so each figure is measured in
rounds that alternate between the two servers, and the ratio of the medians is
printed (above 1: rfconsole is faster, or smaller).

  small       p50 of get-run and stop-run (a different ONGOING run per stop)
  listing     get-all-runs while a controller writes one run per 0.25 s and a
              client polls once after each write (at --runs, and at --big for
              rfconsole only), the two servers' polls alternating in order,
              --ticks of them: medians, the ratio of the medians and the median
              of the per-tick ratios; the listing's 304 keeps the connection alive
  clients     get-run throughput at 8 and 32 concurrent keep-alive clients (the
              client threads share one process, so a few thousand requests a
              second is also the client's ceiling)
  serve       `serve` at --big runs: start to first answer and to the first listing
              (medians of 5 starts, alternating with RapidFire's), RSS after 100
              listings, the listing after a write over the socket and in process
              (the app's own time)
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

RF_VERSION = "0.16.1"
# Threads per gunicorn worker in dispatcher/gunicorn.conf.py.
GTHREAD_THREADS = 8
RF_VENV = Path(tempfile.gettempdir()) / f"rfconsole-bench-rapidfire-{RF_VERSION}"
HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PYTHON = Path(sys.executable)
BIN = PYTHON.parent

sys.path.insert(0, str(HERE))


# ---------------------------------------------------------------- RapidFire AI

RF_SEED = r"""
import sys
from rapidfireai.fit.db.rf_db import RfDb
from rapidfireai.fit.utils.constants import RunStatus, RunSource
n = int(sys.argv[1])
db = RfDb(); db.create_tables()
db.create_experiment("bench-exp", None, {"experiments_path": sys.argv[2]})
for i in range(n):
    cfg = {"learning_rate": 10 ** -(1 + i % 4), "batch_size": 32 * (1 + i % 4),
           "model": {"hidden": 64 + i % 7, "layers": 2, "activation": "relu"},
           "optimizer": {"name": "adam", "betas": [0.9, 0.999]}, "seed": i}
    db.create_run(config_leaf=cfg, status=RunStatus.ONGOING, total_steps=300, completed_steps=100,
                  source=RunSource.INITIAL, flattened_config={"learning_rate": cfg["learning_rate"]})
"""


def rapidfire_venv() -> Path:
    python = RF_VENV / "bin" / "python"
    ready = subprocess.run([str(python), "-c", "import rapidfireai, gunicorn"],
                           capture_output=True).returncode == 0 if python.exists() else False
    if not ready:
        print(f"installing RapidFire AI {RF_VERSION} into {RF_VENV} ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(RF_VENV)], check=True)
        wheels = Path(tempfile.mkdtemp())
        pip = [str(RF_VENV / "bin" / "pip"), "-q"]
        subprocess.run([*pip, "download", f"rapidfireai=={RF_VERSION}", "--no-deps",
                        "--ignore-requires-python", "-d", str(wheels)], check=True)
        wheel = next(wheels.glob("rapidfireai-*.whl"))
        subprocess.run([*pip, "install", "--no-deps", "--ignore-requires-python", str(wheel)], check=True)
        subprocess.run([*pip, "install", "flask", "flask-cors", "dill<0.3.9", "loguru", "gunicorn"],
                       check=True)
    return RF_VENV


class Server:
    def __init__(self, name: str, port: int, process: subprocess.Popen[bytes], db: Path) -> None:
        self.name, self.port, self.process, self.db = name, port, process, db

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def rss_mb(self) -> float:
        """Resident memory of the server and its children (gunicorn's workers), in MB."""
        total = 0
        pids = [self.process.pid]
        try:
            children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
            pids += [int(p) for p in children]
        except OSError:
            pass
        for pid in pids:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        return total / 1024


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(port: int, path: str = "/dispatcher/health-check", timeout: float = 60) -> float:
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", path)
            status = conn.getresponse().status
            conn.close()
            if status == 200:
                return time.perf_counter() - start
        except OSError:
            pass
        time.sleep(0.005)
    raise RuntimeError(f"no answer on port {port} within {timeout} s")


def start_rapidfire(folder: Path, nruns: int) -> Server:
    return restart_rapidfire(folder, nruns)[0]


def restart_rapidfire(folder: Path, nruns: int,
                      first: str = "/dispatcher/health-check") -> tuple[Server, float]:
    """RapidFire's dispatcher on `folder` (seeded with `nruns` runs the first time), and the
    seconds from starting gunicorn to its first answer to `first`."""
    venv = rapidfire_venv()
    home = folder / "rf-home"
    seeded = (home / "db").is_dir() and any((home / "db").glob("*.db"))
    (home / "db").mkdir(parents=True, exist_ok=True)
    (home / "logs").mkdir(exist_ok=True)
    port = free_port()
    env = {**os.environ, "RF_HOME": str(home), "RF_DB_PATH": str(home / "db"), "RF_LOG_PATH": str(home / "logs"),
           "RF_API_HOST": "127.0.0.1", "RF_API_PORT": str(port), "RF_API_THREADS": "1"}
    if not seeded:
        subprocess.run([str(venv / "bin" / "python"), "-c", RF_SEED, str(nruns), str(folder)], env=env,
                       check=True, capture_output=True)
    site = subprocess.run([str(venv / "bin" / "python"), "-c",
                           "import rapidfireai, os; print(os.path.dirname(rapidfireai.__file__))"],
                          capture_output=True, text=True, check=True).stdout.strip()
    log = open(home / "api.log", "ab")  # noqa: SIM115 - lives as long as the server
    started = time.perf_counter()
    process = subprocess.Popen([str(venv / "bin" / "gunicorn"), "--no-control-socket", "-c", "gunicorn.conf.py"],
                               cwd=Path(site) / "fit" / "dispatcher", env=env, stdout=log, stderr=log,
                               stdin=subprocess.DEVNULL)
    wait_ready(port, first)
    elapsed = time.perf_counter() - started
    db = next((home / "db").glob("*.db"))
    return Server("RapidFire", port, process, db), elapsed


# ---------------------------------------------------------------- rfconsole


def seed_ours(folder: Path, nruns: int) -> Path:
    from bench_dispatcher import seed
    from rfconsole.db import Store

    path = folder / f"ours-{nruns}.db"
    store = Store.open(str(path))
    seed(store, folder, "bench-exp", nruns)
    store.close()
    return path


def start_ours(db: Path, *, gunicorn_threads: int = 0,
               first: str = "/dispatcher/get-all-runs") -> tuple[Server, float]:
    """`rfconsole serve` on `db` (or, with `gunicorn_threads`, one gunicorn worker with that many
    gthread threads), and the seconds from starting it to its first answer to `first`."""
    port = free_port()
    env = {**os.environ, "RFCONSOLE_DB": str(db), "RFCONSOLE_PORT": str(port)}
    env.pop("RFCONSOLE_TOKEN", None)
    if gunicorn_threads:
        env["RFCONSOLE_BIND"] = f"127.0.0.1:{port}"
        env["RFCONSOLE_WORKERS"] = "1"
        command = [str(BIN / "gunicorn"), "-c", str(REPO / "dispatcher" / "gunicorn.conf.py"),
                   "--threads", str(gunicorn_threads), "--access-logfile", "/dev/null",
                   "rfconsole.dispatcher.wsgi:app"]
    else:
        command = [str(BIN / "rfconsole"), "serve", "--db", str(db), "--port", str(port)]
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               stdin=subprocess.DEVNULL)
    wait_ready(port, first)
    return Server("rfconsole", port, process, db), time.perf_counter() - started


# ---------------------------------------------------------------- measuring


class Client:
    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.reconnects = 0

    def call(self, method: str, path: str, body: Any = None,
             headers: dict[str, str] | None = None) -> tuple[int, bytes, http.client.HTTPResponse]:
        data = None if body is None else json.dumps(body).encode()
        sent = dict(headers or {})
        if data is not None:
            sent["Content-Type"] = "application/json"
        if self.conn.sock is None:
            self.reconnects += 1
        self.conn.request(method, "/dispatcher/" + path, body=data, headers=sent)
        response = self.conn.getresponse()
        payload = response.read()
        if response.getheader("Connection", "").lower() == "close":
            self.conn.close()
        return response.status, payload, response

    def close(self) -> None:
        self.conn.close()


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def p50(samples: list[float]) -> float:
    return statistics.median(samples)


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[-1]


def row(label: str, ours: float | None, theirs: float | None, unit: str = "ms", lower_better: bool = True) -> None:
    def shown(value: float | None) -> str:
        return "-" if value is None else f"{value:.3f} {unit}" if unit == "ms" else f"{value:.2f} {unit}"
    ratio = ""
    if ours and theirs:
        ratio = f"{(theirs / ours if lower_better else ours / theirs):.2f}x"
    print(f"{label:<58} {shown(ours):>14} {shown(theirs):>14} {ratio:>8}", flush=True)


def header(title: str) -> None:
    print(f"\n{title}\n{'figure':<58} {'rfconsole':>14} {'RapidFire':>14} {'ratio':>8}", flush=True)


def bench_small(ours: Server, theirs: Server, nruns: int, rounds: int, per_round: int) -> None:
    header(f"small requests at {nruns} runs (p50 of {rounds} interleaved rounds of {per_round})")
    clients = {s.name: Client(s.port) for s in (ours, theirs)}
    ids = {ours.name: iter(range(1, nruns + 1)), theirs.name: iter(range(1, nruns + 1))}
    results: dict[tuple[str, str], list[float]] = {}
    for _ in range(rounds):
        for server in (ours, theirs):
            client = clients[server.name]
            for route in ("get-run", "stop-run"):
                samples = []
                for i in range(per_round + 20):
                    run_id = next(ids[server.name]) if route == "stop-run" else 1 + i % nruns
                    start = time.perf_counter()
                    client.call("POST", route, {"run_id": run_id})
                    ms = (time.perf_counter() - start) * 1000
                    if i >= 20:
                        samples.append(ms)
                results.setdefault((server.name, route), []).append(p50(samples))
    for route in ("get-run", "stop-run"):
        row(f"{route} p50", p50(results[(ours.name, route)]), p50(results[(theirs.name, route)]))


def _write_ours(db: Path, tick: int) -> Callable[[], None]:
    from rfconsole.db import Store, runs

    store = Store.open(str(db))
    with store.read() as session:
        first = runs.list_runs(session, limit=1)[0]

    def write(step: list[int] = [0]) -> None:  # noqa: B006 - a counter
        step[0] += 1
        with store.write() as session:
            runs.write_run(session, first.run_id + step[0] % 50,
                           {"completed_steps": 100 + step[0], "metrics": {"train_loss": 1 / step[0]}})
    return write


def _write_rapidfire(db: Path) -> Callable[[], None]:
    conn = sqlite3.connect(str(db), isolation_level=None, timeout=30)

    def write(step: list[int] = [0]) -> None:  # noqa: B006 - a counter
        step[0] += 1
        conn.execute("UPDATE runs SET completed_steps = ? WHERE run_id = ?", (100 + step[0], 1 + step[0] % 50))
    return write


def bench_listing(ours: Server, theirs: Server | None, nruns: int, ticks: int, pause: float) -> None:
    """Each tick: both controllers write, then (after `pause`) each client polls once, the order of
    the two servers alternating from tick to tick; medians over all ticks after the first three."""
    who = "" if theirs is not None else " (rfconsole only)"
    header(f"get-all-runs at {nruns} runs while a controller writes one run per {pause} s{who}, "
           f"median of {ticks - 3} interleaved polls")
    servers = [s for s in (ours, theirs) if s is not None]
    writers = {ours.name: _write_ours(ours.db, 0)}
    if theirs is not None:
        writers[theirs.name] = _write_rapidfire(theirs.db)
    clients = {s.name: Client(s.port) for s in servers}
    samples: dict[str, list[float]] = {s.name: [] for s in servers}
    etags: dict[str, str | None] = {s.name: None for s in servers}
    for tick in range(ticks):
        for server in servers:
            writers[server.name]()
        time.sleep(pause)
        for server in servers if tick % 2 == 0 else servers[::-1]:
            client = clients[server.name]
            tag = etags[server.name]
            sent = {"If-None-Match": tag} if tag else {}
            start = time.perf_counter()
            status, payload, response = client.call("GET", "get-all-runs", headers=sent)
            ms = (time.perf_counter() - start) * 1000
            if status != 200 or not payload:
                raise RuntimeError(f"{server.name}: listing answered {status} after a write")
            etags[server.name] = response.getheader("ETag")
            if tick >= 3:
                samples[server.name].append(ms)
    row("listing after a write, p50", p50(samples[ours.name]),
        p50(samples[theirs.name]) if theirs is not None else None)
    row("listing after a write, p95", p95(samples[ours.name]),
        p95(samples[theirs.name]) if theirs is not None else None)
    if theirs is not None:
        # Each tick's two polls ran a few milliseconds apart, under the same load.
        ratios = [t / o for o, t in zip(samples[ours.name], samples[theirs.name], strict=True)]
        print(f"  median of the per-tick ratios (RapidFire / rfconsole): {p50(ratios):.2f}x; "
              f"ticks where rfconsole was >= 5x faster: {sum(r >= 5 for r in ratios)} of {len(ratios)}",
              flush=True)
    # The 304 of an unchanged listing on the same connection.
    client = clients[ours.name]
    status, _, response = client.call("GET", "get-all-runs")
    tag = response.getheader("ETag") or ""
    before = client.reconnects
    not_modified = [timed(lambda: client.call("GET", "get-all-runs", headers={"If-None-Match": tag}))
                    for _ in range(200)]
    print(f"  304 answers: p50 {p50(not_modified):.3f} ms; reconnections over 200 polls: "
          f"{client.reconnects - before} (0: the connection stays open)")


def bench_clients(nruns: int, folder: Path, theirs: Server, seconds: float, rounds: int) -> None:
    header(f"get-run throughput, concurrent keep-alive clients, {nruns} runs "
           f"(requests/s, medians of {rounds} interleaved rounds of {seconds:g} s)")
    db = seed_ours(folder, nruns) if not (folder / f"ours-{nruns}.db").exists() else folder / f"ours-{nruns}.db"
    setups = {"rfconsole serve (Waitress)": 0,
              f"rfconsole, gunicorn gthread {GTHREAD_THREADS} threads": GTHREAD_THREADS,
              "rfconsole, gunicorn gthread 1 thread": 1}
    ours: dict[str, Server] = {}
    try:
        for label, threads in setups.items():
            ours[label] = start_ours(db, gunicorn_threads=threads)[0]
        servers = {"RapidFire": theirs, **ours}
        for count in (8, 32):
            rates: dict[str, list[float]] = {label: [] for label in servers}
            for _ in range(rounds):
                for label, server in servers.items():
                    rates[label].append(_throughput(server.port, count, seconds, nruns))
            for label in ours:
                row(f"{count} clients, {label}", statistics.median(rates[label]),
                    statistics.median(rates["RapidFire"]), "req/s", lower_better=False)
    finally:
        for server in ours.values():
            server.stop()


def _throughput(port: int, count: int, seconds: float, nruns: int) -> float:
    done = [0] * count
    failures = [0] * count
    stop = threading.Event()

    def client(index: int) -> None:
        conn = Client(port)
        i = index
        while not stop.is_set():
            try:
                conn.call("POST", "get-run", {"run_id": 1 + i % nruns})
                done[index] += 1
            except (OSError, http.client.HTTPException):
                failures[index] += 1
                conn = Client(port)
            i += count
        conn.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    return sum(done) / seconds


def bench_serve(folder: Path, big: int, theirs_big: Server | None, ticks: int) -> None:
    header(f"`serve` at {big} runs")
    db = seed_ours(folder, big)
    starts: list[float] = []
    theirs_starts: list[float] = []
    for _ in range(5):  # alternating: ours, then RapidFire's gunicorn on its own database
        server, first_answer = start_ours(db, first="/dispatcher/health-check")
        server.stop()
        starts.append(first_answer)
        if theirs_big is not None:
            again, first_answer = restart_rapidfire(folder / "rf-big", big)
            again.stop()
            theirs_starts.append(first_answer)
    row("start to first answer (health-check)", p50(starts) * 1000,
        p50(theirs_starts) * 1000 if theirs_starts else None)
    firsts: list[float] = []
    theirs_firsts: list[float] = []
    for _ in range(5):
        server, first_listing = start_ours(db)
        firsts.append(first_listing)
        if len(firsts) < 5:
            server.stop()
        if theirs_big is not None:
            again, first_listing = restart_rapidfire(folder / "rf-big", big, "/dispatcher/get-all-runs")
            again.stop()
            theirs_firsts.append(first_listing)
    try:
        row("start to first get-all-runs answer", p50(firsts) * 1000,
            p50(theirs_firsts) * 1000 if theirs_firsts else None)
        for server_ in [s for s in (server, theirs_big) if s is not None]:
            client = Client(server_.port)
            for _ in range(100):
                client.call("GET", "get-all-runs")
            client.close()
        row("RSS after 100 listings", server.rss_mb(), theirs_big.rss_mb() if theirs_big else None, "MB")
        bench_listing(server, None, big, ticks, 0.25)
    finally:
        server.stop()


def bench_in_process(folder: Path, big: int, ticks: int) -> None:
    """The server's own cost of the listing after a write (no transfer): the app called in-process."""
    from rfconsole.db import Store
    from rfconsole.dispatcher import create_app

    db = folder / f"ours-{big}.db"
    if not db.exists():
        db = seed_ours(folder, big)
    write = _write_ours(db, 0)
    store = Store.open(str(db))
    client = create_app(store).test_client()
    client.get("/dispatcher/get-all-runs")
    samples = []
    for _ in range(ticks):
        write()
        start = time.perf_counter()
        answer = client.get("/dispatcher/get-all-runs")
        samples.append((time.perf_counter() - start) * 1000)
        assert answer.status_code == 200
    store.close()
    header(f"get-all-runs at {big} runs after a write, in process (the app's own time, no socket)")
    row("listing after a write, p50", p50(samples), None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--big", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--ticks", type=int, default=83, help="listing polls per server (after 3 warm-up ones)")
    parser.add_argument("--only", default="small,listing,clients,serve")
    args = parser.parse_args()
    parts = set(args.only.split(","))
    folder = Path(tempfile.mkdtemp(prefix="rfconsole-bench-"))
    started: list[Server] = []
    try:
        theirs = start_rapidfire(folder / "rf", args.runs)
        started.append(theirs)
        db = seed_ours(folder, args.runs)
        if parts & {"small", "listing"}:
            ours, _ = start_ours(db)
            started.append(ours)
            if "listing" in parts:
                bench_listing(ours, theirs, args.runs, args.ticks, 0.25)
            if "small" in parts:
                bench_small(ours, theirs, args.runs, args.rounds, 100)
        if "clients" in parts:
            bench_clients(args.runs, folder, theirs, 2.0, args.rounds)
        if "serve" in parts:
            theirs_big = start_rapidfire(folder / "rf-big", args.big)
            started.append(theirs_big)
            bench_serve(folder, args.big, theirs_big, args.ticks)
            bench_in_process(folder, args.big, 40)
    finally:
        for server in started:
            server.stop()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
