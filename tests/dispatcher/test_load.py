"""Load: 8 client threads, each sending a fixed number of mixed reads and IC requests to one Waitress
server, while a controller-like thread applies the queued ops. Every request answered, zero 5xx, zero
wrong answers, and every accepted op is in the database exactly once (and nothing else is).

The amount of work is fixed, not the time: nothing asserted depends on the machine's speed."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
import requests
from rfconsole.db import Store, experiments, ic_ops, runs
from rfconsole.dispatcher import create_app
from rfconsole.dispatcher.server import DispatcherServer

CLIENTS = 8
REQUESTS = 60  # per client
TIMEOUT_SECONDS = 240  # a stuck server fails the test instead of hanging it
INITIAL_RUNS = 40


def _seed(store: Store, root: Path) -> tuple[int, list[int]]:
    with store.write() as session:
        experiment = experiments.create_experiment(
            session, name="load", experiment_path=str(root / "load"), num_chunks=3, num_epochs=2)
        ids = []
        for index in range(INITIAL_RUNS):
            run = runs.create_run(session, experiment_id=experiment.id, num_chunks=3, num_epochs=2,
                                  config_leaf={"lr": index / 100 + 0.01})
            runs.update_run(session, run.run_id, status="ONGOING",
                            checkpoint_path=str(root / "ckpt" / str(run.run_id)))
            ids.append(run.run_id)
    return experiment.id, ids


def _apply_ops(store: Store, experiment_id: int, stop: threading.Event) -> None:
    """What the controller does with each op, in short."""
    while not stop.is_set():
        with store.write() as session:
            for op in ic_ops.claim_pending(session, experiment_id=experiment_id):
                run = runs.get_run(session, op.run_id)
                if op.operation == "STOP" and run.status in ("NEW", "ONGOING"):
                    runs.update_run(session, op.run_id, status="STOPPED")
                elif op.operation == "RESUME" and run.status == "STOPPED":
                    runs.update_run(session, op.run_id, status="ONGOING")
                elif op.operation == "CLONE_MODIFY" and op.new_run_id is not None:
                    runs.update_run(session, op.new_run_id, status="ONGOING")
                ic_ops.mark_completed(session, op.ic_id)
        stop.wait(0.05)


@pytest.mark.slow
def test_mixed_load(store: Store, tmp_path: Path) -> None:
    experiment_id, run_ids = _seed(store, tmp_path)
    server = DispatcherServer(create_app(store), port=0)
    server.start()
    base = f"{server.url}/dispatcher"
    deadline = time.monotonic() + TIMEOUT_SECONDS
    accepted: list[int] = []
    problems: list[str] = []
    counts: Counter[str] = Counter()
    lock = threading.Lock()

    def client(index: int) -> None:
        pick = random.Random(index)
        http = requests.Session()
        etag = None
        try:
            for _ in range(REQUESTS):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{TIMEOUT_SECONDS} s passed before the requests were answered")
                choice = pick.choice(["list", "list", "list304", "get", "get", "stop", "resume",
                                      "delete", "clone", "ops"])
                run_id = pick.choice(run_ids)
                route = choice
                if choice in ("list", "list304"):
                    headers = {"If-None-Match": etag} if choice == "list304" and etag else {}
                    response = http.get(f"{base}/get-all-runs", headers=headers, timeout=30)
                    if response.status_code == 200:
                        body = response.json()
                        etag = response.headers["ETag"]
                        ok = (len(body) >= INITIAL_RUNS
                              and int(response.headers["X-Total-Count"]) == len(body)
                              and {r["experiment_name"] for r in body} == {"load"}
                              and set(run_ids) <= {r["run_id"] for r in body})
                    else:
                        ok = response.status_code == 304 and choice == "list304"
                elif choice == "get":
                    response = http.post(f"{base}/get-run", json={"run_id": run_id}, timeout=30)
                    ok = response.status_code == 200 and response.json()["run_id"] == run_id
                elif choice == "ops":
                    response = http.get(f"{base}/get-ic-ops?limit=20", timeout=30)
                    ok = response.status_code == 200 and isinstance(response.json(), list)
                else:
                    route = {"stop": "stop-run", "resume": "resume-run", "delete": "delete-run",
                             "clone": "clone-modify-run"}[choice]
                    body = {"run_id": run_id}
                    if choice == "clone":
                        body.update(config={"lr": pick.random()}, warm_start=pick.random() < 0.5)
                    response = http.post(f"{base}/{route}", json=body, timeout=30)
                    ok = response.status_code in (200, 409)
                    if response.status_code == 200:
                        answer = response.json()
                        ok = isinstance(answer.get("ic_id"), int) and "error" not in answer
                        with lock:
                            accepted.append(answer["ic_id"])
                    elif ok:
                        ok = "error" in response.json()
                with lock:
                    counts[f"{route} {response.status_code}"] += 1
                    if not ok:
                        problems.append(f"{route}: {response.status_code} {response.text[:200]}")
        except Exception as exc:  # a dropped connection or a bad body is a failure too
            with lock:
                problems.append(f"client {index}: {exc!r}")
        finally:
            http.close()

    stop = threading.Event()
    applier = threading.Thread(target=_apply_ops, args=(store, experiment_id, stop))
    applier.start()
    clients = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for thread in clients:
        thread.start()
    for thread in clients:
        thread.join(TIMEOUT_SECONDS + 60)
    stop.set()
    applier.join(30)
    server.stop()

    assert problems == []
    assert not any(key.endswith(" 500") for key in counts)
    assert sum(counts.values()) == CLIENTS * REQUESTS, counts  # every request was answered
    assert len(accepted) == len(set(accepted))
    with store.read() as session:
        recorded = [op.ic_id for op in ic_ops.list_ops(session, experiment_id=experiment_id)]
    assert len(recorded) == len(set(recorded))
    assert sorted(recorded) == sorted(accepted)
