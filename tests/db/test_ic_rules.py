"""Every allowed and refused IC-op transition (docs/architecture.md, "Run states and IC ops")."""

from __future__ import annotations

import pytest
from rfconsole.db import ConflictError, InvalidError, NotFoundError, configs, experiments, ic_ops, runs

STATUSES = ["NEW", "ONGOING", "COMPLETED", "STOPPED", "FAILED", "KILLED"]
ALLOWED = {
    "STOP": {"NEW", "ONGOING"},
    "RESUME": {"STOPPED"},
    "DELETE": {"NEW", "ONGOING", "COMPLETED", "STOPPED", "FAILED"},
    "CLONE_MODIFY": {"NEW", "ONGOING", "COMPLETED", "STOPPED", "FAILED"},
}
CASES = [(op, status) for op in ALLOWED for status in STATUSES]


def _request(store, operation, run_id, **extra):
    with store.write() as session:
        return ic_ops.request_op(session, operation, run_id=run_id, origin="test", **extra)


@pytest.mark.parametrize(("operation", "status"), CASES)
def test_transition_allowed_or_refused(store, seed, operation, status):
    run_id = seed.run(status)
    extra = {"config_patch": {}} if operation == "CLONE_MODIFY" else {}
    if status in ALLOWED[operation]:
        op = _request(store, operation, run_id, **extra)
        assert op.status == "PENDING"
        assert op.operation == operation
        assert op.origin == "test"
        with store.read() as session:
            assert [p.ic_id for p in ic_ops.list_pending(session)] == [op.ic_id]
    else:
        with pytest.raises(ConflictError) as refused:
            _request(store, operation, run_id, **extra)
        assert f"Run {run_id} is {status}" in refused.value.message
        assert refused.value.status == 409
        with store.read() as session:
            assert ic_ops.list_pending(session) == []


def test_delete_marks_the_run_killed_at_once(store, seed):
    run_id = seed.run("ONGOING")
    _request(store, "DELETE", run_id)
    with store.read() as session:
        run = runs.get_run(session, run_id)
    assert run.status == "KILLED"
    assert run.ended_by == "test"


@pytest.mark.parametrize("operation", ["STOP", "RESUME", "DELETE"])
def test_duplicate_while_pending_names_the_pending_op(store, seed, operation):
    run_id = seed.run("STOPPED" if operation == "RESUME" else "ONGOING")
    first = _request(store, operation, run_id)
    with pytest.raises(ConflictError) as refused:
        _request(store, operation, run_id)
    # A second delete meets a run that is already KILLED; the others name the pending op.
    if operation == "DELETE":
        assert "is KILLED" in refused.value.message
    else:
        assert f"(op {first.ic_id})" in refused.value.message


def test_same_op_allowed_again_once_settled(store, seed):
    run_id = seed.run("ONGOING")
    first = _request(store, "STOP", run_id)
    with store.write() as session:
        ic_ops.mark_skipped(session, first.ic_id, "the run finished first")
    second = _request(store, "STOP", run_id)
    assert second.ic_id > first.ic_id


def test_identical_clone_while_pending_is_refused_but_a_different_one_is_not(store, seed):
    run_id = seed.run("ONGOING")
    patch = {"lr": 0.5}
    first = _request(store, "CLONE_MODIFY", run_id, config_patch=patch)
    with pytest.raises(ConflictError, match=rf"\(op {first.ic_id}\)"):
        _request(store, "CLONE_MODIFY", run_id, config_patch=patch)
    other = _request(store, "CLONE_MODIFY", run_id, config_patch={"lr": 0.7})
    assert other.new_run_id != first.new_run_id


def test_clone_creates_the_new_run_at_once_with_merged_config(store, seed):
    parent = seed.run("ONGOING", config={"lr": 0.1, "model": {"width": 8, "depth": 2}})
    op = _request(store, "CLONE_MODIFY", parent, config_patch={"model": {"depth": None, "width": 16}})
    with store.read() as session:
        clone = runs.get_run(session, op.new_run_id)
    assert clone.status == "NEW"
    assert clone.source == "CLONE"
    assert clone.parent_run_id == parent
    assert clone.warm_start is False
    assert clone.config_leaf == {"lr": 0.1, "model": {"width": 16}}
    assert clone.flattened_config == {"lr": 0.1, "model.width": 16}
    assert clone.run_name == f"run_{clone.run_id}"
    assert op.config_leaf == {"lr": 0.1, "model": {"width": 16}}  # the op keeps the clone's config


def test_clone_with_a_whole_config_drops_the_keys_it_leaves_out(store, seed):
    parent = seed.run("ONGOING", config={"lr": 0.1, "model": {"width": 8, "depth": 2}})
    op = _request(store, "CLONE_MODIFY", parent, config={"lr": 0.3, "model": {"width": 8}})
    with store.read() as session:
        clone = runs.get_run(session, op.new_run_id)
    assert clone.config_leaf == {"lr": 0.3, "model": {"width": 8}}
    assert clone.flattened_config == {"lr": 0.3, "model.width": 8}
    assert op.config_leaf == clone.config_leaf


def test_clone_takes_exactly_one_of_config_and_config_patch(store, seed):
    parent = seed.run("ONGOING")
    for extra in ({}, {"config": {"lr": 0.2}, "config_patch": {"lr": 0.2}}):
        with pytest.raises(InvalidError, match="exactly one of config"):
            _request(store, "CLONE_MODIFY", parent, **extra)
    with pytest.raises(InvalidError, match="config_patch must be a JSON object"):
        _request(store, "CLONE_MODIFY", parent, config_patch=[1])
    with store.read() as session:
        assert runs.count_runs(session) == 1


def test_a_patch_and_a_whole_config_giving_the_same_clone_are_duplicates(store, seed):
    parent = seed.run("ONGOING", config={"lr": 0.1, "model": {"width": 8}})
    first = _request(store, "CLONE_MODIFY", parent, config_patch={"lr": 0.5})
    with pytest.raises(ConflictError, match=rf"\(op {first.ic_id}\)"):
        _request(store, "CLONE_MODIFY", parent, config={"lr": 0.5, "model": {"width": 8}})


def test_warm_clone_needs_a_checkpoint(store, seed):
    bare = seed.run("ONGOING")
    with pytest.raises(ConflictError, match="has no checkpoint yet"):
        _request(store, "CLONE_MODIFY", bare, config_patch={}, warm_start=True)
    with store.read() as session:
        assert runs.count_runs(session) == 1  # no clone row was left behind
    ready = seed.run("ONGOING", checkpoint=True)
    op = _request(store, "CLONE_MODIFY", ready, config_patch={}, warm_start=True)
    assert op.warm_start is True


def test_clone_breaking_the_schema_names_the_key_and_leaves_nothing(store, seed):
    parent = seed.run("ONGOING")
    with pytest.raises(InvalidError, match=r"at model\.width: 0 is less than the minimum of 1"):
        _request(store, "CLONE_MODIFY", parent, config_patch={"model": {"width": 0}})
    with pytest.raises(InvalidError, match=r"'lr' is a required property"):
        _request(store, "CLONE_MODIFY", parent, config_patch={"lr": None})
    with store.read() as session:
        assert runs.count_runs(session) == 1
        assert ic_ops.list_pending(session) == []


def test_unknown_run_and_bad_ids(store, seed):
    with pytest.raises(NotFoundError, match="no run with id 999"):
        _request(store, "STOP", 999)
    with pytest.raises(NotFoundError, match=f"no run with id {2**63}"):
        _request(store, "STOP", 2**63)  # past what the database can hold, so unknown
    for bad in ("3", True, 1.5, -1):
        with pytest.raises(InvalidError, match="run_id"):
            _request(store, "STOP", bad)
    with pytest.raises(InvalidError, match="not an IC op"):
        _request(store, "PAUSE", 1)


def test_ops_refused_once_the_experiment_has_completed(store, seed):
    run_id = seed.run("ONGOING")
    with store.write() as session:
        experiments.set_experiment_status(session, seed.experiment.id, "completed")
    with pytest.raises(ConflictError, match="has completed"):
        _request(store, "STOP", run_id)


@pytest.mark.sqlite_only
def test_requests_must_hold_the_write_lock(store, seed):
    run_id = seed.run("ONGOING")
    with store.read() as session, pytest.raises(RuntimeError, match="Store.write"):
        ic_ops.request_stop(session, run_id=run_id, origin="test")


def test_claim_settle_and_history(store, seed):
    a, b = seed.run("ONGOING"), seed.run("STOPPED")
    stop = _request(store, "STOP", a)
    resume = _request(store, "RESUME", b)
    with store.write() as session:
        claimed = ic_ops.claim_pending(session, experiment_id=seed.experiment.id)
    assert [op.ic_id for op in claimed] == [stop.ic_id, resume.ic_id]  # oldest first
    assert all(op.claimed_at is not None and op.status == "PENDING" for op in claimed)
    with store.write() as session:
        done = ic_ops.mark_completed(session, stop.ic_id)
        failed = ic_ops.mark_failed(session, resume.ic_id, "the checkpoint could not be read")
    assert done.status == "COMPLETED"
    assert done.processed_at is not None
    assert failed.error == "the checkpoint could not be read"
    with store.write() as session, pytest.raises(ConflictError, match="already COMPLETED"):
        ic_ops.mark_skipped(session, stop.ic_id, "again")
    with store.read() as session:
        history = ic_ops.list_ops(session, run_id=a)
        assert [op.ic_id for op in history] == [stop.ic_id]
        assert ic_ops.list_pending(session) == []
        assert [op.ic_id for op in ic_ops.list_ops(session)] == [resume.ic_id, stop.ic_id]
        assert ic_ops.list_ops(session, status="FAILED")[0].ic_id == resume.ic_id


def test_clone_history_is_found_from_the_clone_too(store, seed):
    parent = seed.run("ONGOING")
    op = _request(store, "CLONE_MODIFY", parent, config_patch={"lr": 0.2})
    with store.read() as session:
        assert [o.ic_id for o in ic_ops.list_ops(session, run_id=op.new_run_id)] == [op.ic_id]


def test_clone_config_nested_too_deep_is_refused(store, seed):
    parent = seed.run("ONGOING")
    deep: dict = {"leaf": 1}
    for _ in range(configs.MAX_CONFIG_DEPTH):
        deep = {"a": deep}
    with pytest.raises(InvalidError, match="nests more than 64 levels deep"):
        _request(store, "CLONE_MODIFY", parent, config_patch=deep)
    just_deep_enough = deep["a"]
    _request(store, "CLONE_MODIFY", parent, config_patch=just_deep_enough)
    with store.read() as session:
        assert runs.count_runs(session) == 2
