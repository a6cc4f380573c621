"""Eight threads against one SQLite file: no lock errors, no lost or duplicated op, rules kept."""

from __future__ import annotations

import random
import threading
from collections import Counter

import pytest
from rfconsole.db import ICOpRead, StoreError, ic_ops, runs

THREADS = 8
ACTIONS = 150  # per client thread: a fixed amount of work, whatever the machine's speed


def test_racing_stops_produce_exactly_one_op(store, seed):
    for _ in range(5):
        run_id = seed.run("ONGOING")
        barrier = threading.Barrier(THREADS)
        outcomes: list[object] = []

        def stop(barrier=barrier, outcomes=outcomes, run_id=run_id) -> None:
            barrier.wait()
            try:
                with store.write() as session:
                    outcomes.append(ic_ops.request_stop(session, run_id=run_id, origin="race"))
            except StoreError as refusal:
                outcomes.append(refusal)

        workers = [threading.Thread(target=stop) for _ in range(THREADS)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        accepted = [o for o in outcomes if not isinstance(o, Exception)]
        refused = [o for o in outcomes if isinstance(o, Exception)]
        assert len(accepted) == 1
        assert len(refused) == THREADS - 1
        assert all("already pending" in str(exc) for exc in refused)
        with store.read() as session:
            assert len(ic_ops.list_ops(session, run_id=run_id)) == 1


@pytest.mark.slow
def test_mixed_ops_and_reads_from_seven_clients(store, seed):
    run_ids = [seed.run(status) for status in ["ONGOING"] * 6 + ["STOPPED"] * 6]
    accepted: list[int] = []
    unexpected: list[BaseException] = []
    violations: list[str] = []
    lock = threading.Lock()
    clients_done = threading.Event()

    def client(seed_value: int) -> None:
        rng = random.Random(seed_value)
        for _ in range(ACTIONS):
            choice = rng.random()
            try:
                if choice < 0.45:
                    with store.read() as session:
                        pending = ic_ops.list_pending(session)
                        runs.list_runs(session, experiment_id=seed.experiment.id, limit=50)
                    keys = Counter(
                        (op.run_id, op.operation) for op in pending if op.operation != "CLONE_MODIFY"
                    )
                    if any(count > 1 for count in keys.values()):
                        with lock:
                            violations.append(f"duplicate pending ops: {keys}")
                    continue
                run_id = rng.choice(run_ids)
                operation = rng.choice(["STOP", "STOP", "RESUME", "RESUME", "CLONE_MODIFY", "DELETE"])
                with store.write() as session:
                    op = ic_ops.request_op(
                        session, operation, run_id=run_id, origin=f"thread-{seed_value}",
                        config_patch={"lr": rng.choice([0.1, 0.2])},
                    )
                with lock:
                    accepted.append(op.ic_id)
            except StoreError:
                pass  # a refusal by the rules is an expected answer
            except BaseException as exc:  # "database is locked" and anything else fails the test
                with lock:
                    unexpected.append(exc)

    def controller() -> None:
        """Settle ops the way the controller would, so that states keep moving."""
        effect = {"STOP": "STOPPED", "RESUME": "ONGOING"}
        while not clients_done.is_set():
            try:
                with store.write() as session:
                    for op in ic_ops.claim_pending(session, experiment_id=seed.experiment.id):
                        run = runs.get_run(session, op.run_id)
                        target = effect.get(op.operation)
                        if target and run.status != "KILLED":
                            runs.update_run(session, op.run_id, status=target)
                            ic_ops.mark_completed(session, op.ic_id)
                        else:
                            ic_ops.mark_skipped(session, op.ic_id, f"run is {run.status}")
            except BaseException as exc:
                with lock:
                    unexpected.append(exc)
            clients_done.wait(0.01)

    clients = [threading.Thread(target=client, args=(i,)) for i in range(THREADS - 1)]
    settler = threading.Thread(target=controller)
    for thread in [*clients, settler]:
        thread.start()
    for thread in clients:
        thread.join()
    clients_done.set()
    settler.join()

    assert unexpected == []
    assert violations == []
    # Which requests the rules accept depends on the interleaving, so only "some" is asserted.
    assert accepted, "no op got through"
    with store.read() as session:
        stored = [op.ic_id for op in ic_ops.list_ops(session)]
        clones = runs.count_runs(session, experiment_id=seed.experiment.id) - len(run_ids)
        history = ic_ops.list_ops(session)
    assert sorted(stored) == sorted(accepted)  # none lost, none duplicated
    assert len(set(stored)) == len(stored)
    assert clones == sum(1 for op in history if op.operation == "CLONE_MODIFY")


def _race(store, requests: list[tuple[int, str]], copies: int, patch: dict | None = None) -> list[object]:
    """Send `copies` identical requests for each (run, op) at once; the accepted ops and refusals."""
    barrier = threading.Barrier(len(requests) * copies)
    outcomes: list[object] = []
    lock = threading.Lock()

    def send(run_id: int, operation: str) -> None:
        barrier.wait()
        try:
            with store.write() as session:
                result: object = ic_ops.request_op(session, operation, run_id=run_id, origin="race",
                                                   config_patch=patch)
        except StoreError as refusal:
            result = refusal
        except BaseException as exc:  # anything else is a failure, kept for the assert
            result = ("unexpected", exc)
        with lock:
            outcomes.append(result)

    workers = [threading.Thread(target=send, args=request) for request in requests for _ in range(copies)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return outcomes


def test_identical_resumes_of_many_runs_are_each_accepted_once(store, seed):
    stopped = [seed.run("STOPPED") for _ in range(30)]
    outcomes = _race(store, [(run_id, "RESUME") for run_id in stopped], copies=8)
    assert [o for o in outcomes if isinstance(o, tuple)] == []
    accepted = [o for o in outcomes if isinstance(o, ICOpRead)]
    assert sorted(op.run_id for op in accepted) == sorted(stopped)
    assert all("already pending" in str(o) for o in outcomes if isinstance(o, StoreError))
    with store.read() as session:
        assert len(ic_ops.list_pending(session)) == 30


def test_identical_clones_of_many_parents_make_one_clone_each(store, seed):
    parents = [seed.run("ONGOING") for _ in range(10)]
    outcomes = _race(store, [(run_id, "CLONE_MODIFY") for run_id in parents], copies=8, patch={"lr": 0.5})
    assert [o for o in outcomes if isinstance(o, tuple)] == []
    accepted = [o for o in outcomes if isinstance(o, ICOpRead)]
    assert sorted(op.run_id for op in accepted) == sorted(parents)
    with store.read() as session:
        total = runs.count_runs(session, experiment_id=seed.experiment.id)
    assert total == len(parents) + 10
