"""IC-op routes (stop, resume, delete, clone-modify), ops history, logs and their log lines."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from rfconsole.db import Store, experiment_log, ic_ops, runs

from .conftest import Seeded


def _post(client: FlaskClient, route: str, **body: object):
    return client.post(f"/dispatcher/{route}", json=body)


@pytest.mark.parametrize(("route", "status", "operation", "message"), [
    ("stop-run", "ongoing", "STOP", "Stop request created successfully"),
    ("stop-run", "new", "STOP", "Stop request created successfully"),
    ("resume-run", "stopped", "RESUME", "Resume request created successfully"),
    ("delete-run", "completed", "DELETE", "Delete request created successfully"),
])
def test_ops_are_queued(client: FlaskClient, seeded: Seeded, store: Store, route: str,
                        status: str, operation: str, message: str) -> None:
    run_id = getattr(seeded, status)
    response = _post(client, route, run_id=run_id)
    assert response.status_code == 200
    body = response.get_json()
    assert body["message"] == message
    with store.read() as session:
        op = ic_ops.get_op(session, body["ic_id"])
    assert (op.run_id, op.operation, op.status) == (run_id, operation, "PENDING")
    assert op.origin == "http:127.0.0.1"


def test_delete_marks_the_run_killed_at_once(client: FlaskClient, seeded: Seeded) -> None:
    assert _post(client, "delete-run", run_id=seeded.ongoing).status_code == 200
    assert _post(client, "get-run", run_id=seeded.ongoing).get_json()["status"] == "KILLED"
    again = _post(client, "delete-run", run_id=seeded.ongoing)
    assert again.status_code == 409
    assert again.get_json()["error"] == (
        f"Run {seeded.ongoing} is KILLED; delete applies only to runs that are not KILLED.")


@pytest.mark.parametrize(("route", "status", "needle"), [
    ("stop-run", "completed", "is COMPLETED; stop applies only to NEW or ONGOING runs"),
    ("stop-run", "stopped", "is STOPPED"),
    ("resume-run", "ongoing", "is ONGOING; resume applies only to STOPPED runs"),
])
def test_state_rules_refuse_with_409(client: FlaskClient, seeded: Seeded, route: str,
                                     status: str, needle: str) -> None:
    response = _post(client, route, run_id=getattr(seeded, status))
    assert response.status_code == 409
    assert needle in response.get_json()["error"]


def test_second_pending_stop_is_409_naming_the_op(client: FlaskClient, seeded: Seeded) -> None:
    first = _post(client, "stop-run", run_id=seeded.ongoing).get_json()["ic_id"]
    second = _post(client, "stop-run", run_id=seeded.ongoing)
    assert second.status_code == 409
    assert f"op {first}" in second.get_json()["error"]


@pytest.mark.parametrize("route", ["stop-run", "resume-run", "delete-run", "clone-modify-run"])
def test_unknown_run_is_404(client: FlaskClient, seeded: Seeded, route: str) -> None:
    response = _post(client, route, run_id=12345, config={"learning_rate": 0.5})
    assert response.status_code == 404
    assert response.get_json() == {"error": "There is no run with id 12345."}


@pytest.mark.parametrize("route", ["stop-run", "resume-run", "delete-run"])
@pytest.mark.parametrize(("body", "needle"), [
    ({"run_id": "abc"}, "run_id must be a whole number"),
    ({"run_id": True}, "run_id must be a whole number"),
    ({"run_id": 2.5}, "run_id must be a whole number"),
    ({"run_id": -1}, "run_id must be a whole number"),
    ({}, "needs run_id"),
])
def test_op_bodies_are_validated(client: FlaskClient, seeded: Seeded, route: str, body: dict,
                                 needle: str) -> None:
    response = client.post(f"/dispatcher/{route}", json=body)
    assert response.status_code == 400
    assert needle in response.get_json()["error"]


def test_clone_modify_with_config_as_the_frontend_sends(client: FlaskClient, seeded: Seeded) -> None:
    response = _post(client, "clone-modify-run", run_id=seeded.ongoing,
                     config={"learning_rate": 0.5, "model": {"width": 8}}, warm_start=True)
    assert response.status_code == 200
    body = response.get_json()
    assert body["message"] == "Clone-modify request created"
    clone = _post(client, "get-run", run_id=body["new_run_id"]).get_json()
    assert clone["config"] == {"learning_rate": 0.5, "model": {"width": 8}}
    assert (clone["status"], clone["source"], clone["parent_run_id"], clone["warm_start"]) == (
        "NEW", "CLONE", seeded.ongoing, True)
    ops = client.get(f"/dispatcher/get-ic-ops?run_id={body['new_run_id']}").get_json()
    assert [op["ic_id"] for op in ops] == [body["ic_id"]]
    assert ops[0]["config_leaf"] == clone["config"]


@pytest.mark.parametrize("field", ["config", "config_leaf"])
def test_clone_config_is_the_whole_config_so_a_deleted_key_is_gone(
        client: FlaskClient, seeded: Seeded, field: str) -> None:
    parent = _post(client, "get-run", run_id=seeded.ongoing).get_json()
    assert set(parent["config"]) == {"learning_rate", "model"}
    response = _post(client, "clone-modify-run", run_id=seeded.ongoing,
                     **{field: {"learning_rate": 0.25}})
    assert response.status_code == 200
    clone = _post(client, "get-run", run_id=response.get_json()["new_run_id"]).get_json()
    assert clone["config"] == {"learning_rate": 0.25}
    assert clone["flattened_config"] == {"learning_rate": 0.25}


def test_clone_config_patch_merges_into_the_parent_config(client: FlaskClient, seeded: Seeded) -> None:
    rate = _post(client, "get-run", run_id=seeded.completed).get_json()["config"]["learning_rate"]
    response = _post(client, "clone-modify-run", run_id=seeded.completed,
                     config_patch={"model": {"width": 99, "depth": 3}})
    assert response.status_code == 200
    clone = _post(client, "get-run", run_id=response.get_json()["new_run_id"]).get_json()
    assert clone["warm_start"] is False
    assert clone["config"] == {"learning_rate": rate, "model": {"width": 99, "depth": 3}}
    deleting = _post(client, "clone-modify-run", run_id=seeded.completed,
                     config_patch={"model": None})
    assert deleting.status_code == 200
    clone = _post(client, "get-run", run_id=deleting.get_json()["new_run_id"]).get_json()
    assert clone["config"] == {"learning_rate": rate}


def test_clone_config_leaf_defaults_to_cold(client: FlaskClient, seeded: Seeded) -> None:
    response = _post(client, "clone-modify-run", run_id=seeded.completed,
                     config_leaf={"model": {"width": 99}})
    assert response.status_code == 200
    clone = _post(client, "get-run", run_id=response.get_json()["new_run_id"]).get_json()
    assert clone["warm_start"] is False
    assert clone["config_leaf"] == {"model": {"width": 99}}


@pytest.mark.parametrize(("body", "status", "needle"), [
    ({"config": {"learning_rate": -1}}, 400, "learning_rate"),
    ({"config_patch": {"learning_rate": -1}}, 400, "learning_rate"),
    ({"config": "lr=1"}, 400, "config must be a JSON object"),
    ({"config_patch": [1]}, 400, "config_patch must be a JSON object"),
    ({"config": {"a": 1}, "warm_start": "yes"}, 400, "warm_start must be true or false"),
    ({}, 400, "this request sent none of them"),
    ({"config": None}, 400, "this request sent none of them"),
    ({"config": {"a": 1}, "config_leaf": {"a": 1}}, 400, "sent config and config_leaf"),
    ({"config": {"a": 1}, "config_patch": {"a": 2}}, 400, "sent config and config_patch"),
])
def test_clone_modify_refusals(client: FlaskClient, seeded: Seeded, body: dict, status: int,
                               needle: str) -> None:
    response = _post(client, "clone-modify-run", run_id=seeded.ongoing, **body)
    assert response.status_code == status
    assert needle in response.get_json()["error"]


def test_clone_config_nested_too_deep_is_400_and_the_history_still_reads(
        client: FlaskClient, seeded: Seeded) -> None:
    # Within orjson's nesting limit, but past what recursive code can walk.
    body = f'{{"run_id": {seeded.ongoing}, "config": ' + '{"a": ' * 900 + "1" + "}" * 901
    response = client.post("/dispatcher/clone-modify-run", data=body, content_type="application/json")
    assert response.status_code == 400
    assert "nests more than 64 levels deep" in response.get_json()["error"]
    assert client.get("/dispatcher/get-ic-ops").status_code == 200


def test_warm_clone_without_checkpoint_is_409(client: FlaskClient, seeded: Seeded) -> None:
    response = _post(client, "clone-modify-run", run_id=seeded.new, config={"learning_rate": 1.0},
                     warm_start=True)
    assert response.status_code == 409
    assert "no checkpoint" in response.get_json()["error"]


def test_all_operations_and_ic_ops_history(client: FlaskClient, seeded: Seeded, store: Store) -> None:
    stop = _post(client, "stop-run", run_id=seeded.ongoing).get_json()["ic_id"]
    resume = _post(client, "resume-run", run_id=seeded.stopped).get_json()["ic_id"]
    with store.write() as session:
        ic_ops.mark_skipped(session, resume, "the run was already running")
    pending = client.get("/dispatcher/all-operations").get_json()
    assert [op["ic_id"] for op in pending] == [stop]
    assert pending[0]["operation"] == "STOP"
    assert pending[0]["status"] == "PENDING"
    history = client.get("/dispatcher/get-ic-ops").get_json()
    assert [op["ic_id"] for op in history] == [resume, stop]
    assert history[0]["status"] == "SKIPPED"
    assert history[0]["error"] == "the run was already running"
    assert [op["ic_id"] for op in
            client.get(f"/dispatcher/get-ic-ops?run_id={seeded.stopped}").get_json()] == [resume]
    assert [op["ic_id"] for op in
            client.get("/dispatcher/get-ic-ops?status=PENDING").get_json()] == [stop]
    assert len(client.get("/dispatcher/get-ic-ops?limit=1").get_json()) == 1
    bad = client.get("/dispatcher/get-ic-ops?status=DONE")
    assert bad.status_code == 400
    assert "DONE" in bad.get_json()["error"]
    assert client.get("/dispatcher/get-ic-ops?experiment=nope").status_code == 404


def test_ic_requests_are_logged(client: FlaskClient, seeded: Seeded) -> None:
    ic_id = _post(client, "stop-run", run_id=seeded.ongoing).get_json()["ic_id"]
    _post(client, "resume-run", run_id=seeded.ongoing)  # refused: ONGOING
    lines = experiment_log.tail(experiment_log.log_file(seeded.experiment_path), component="dispatcher")
    assert len(lines) == 2
    expected = f"Stop of run {seeded.ongoing} requested from http:127.0.0.1 (op {ic_id})"
    assert f"| exp-a | dispatcher | INFO | {expected}" in lines[0]
    assert "| WARNING | Resume of run" in lines[1]
    assert "refused" in lines[1]
    dispatcher_log = (seeded.experiment_path / "logs" / "dispatcher.log").read_text().splitlines()
    assert dispatcher_log == lines


def test_experiment_logs_and_ic_logs(client: FlaskClient, seeded: Seeded) -> None:
    everything = _post(client, "get-experiment-logs").get_json()
    assert len(everything) == 4
    assert everything[-1].endswith("clone of run 1 started")
    assert _post(client, "get-experiment-logs", limit=2).get_json() == everything[-2:]
    named = _post(client, "get-experiment-logs", experiment_name="exp-a").get_json()
    assert named == everything
    ic_lines = _post(client, "get-ic-logs").get_json()
    assert [line.rsplit(" | ", 1)[1] for line in ic_lines] == ["stop of run 4 applied",
                                                                "clone of run 1 started"]
    assert _post(client, "get-ic-logs", limit=1).get_json() == ic_lines[-1:]
    empty_body = client.post("/dispatcher/get-ic-logs")  # RapidFire may send no body at all
    assert empty_body.status_code == 200
    assert empty_body.get_json() == ic_lines


def test_log_routes_never_turn_a_name_into_a_path(client: FlaskClient, seeded: Seeded) -> None:
    for name in ["../../etc/passwd", str(seeded.experiment_path), "/etc"]:
        response = _post(client, "get-experiment-logs", experiment_name=name)
        assert response.status_code == 404
        assert "There is no experiment named" in response.get_json()["error"]
    bad = _post(client, "get-ic-logs", limit=-2)
    assert bad.status_code == 400
    assert "limit" in bad.get_json()["error"]


def test_logs_without_experiment_are_empty(client: FlaskClient) -> None:
    assert _post(client, "get-experiment-logs").get_json() == []


def test_an_unreadable_log_is_a_500_sentence(client: FlaskClient, seeded: Seeded,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: object, **_kwargs: object) -> list[str]:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(experiment_log, "tail", refuse)
    response = _post(client, "get-experiment-logs")
    assert response.status_code == 500
    assert response.get_json() == {"error": (
        f"The log of experiment {seeded.experiment_name!r} cannot be read (Permission denied); "
        f"check its file's permissions on the server.")}


def test_run_changes_show_after_ops(client: FlaskClient, seeded: Seeded, store: Store) -> None:
    """The controller's side (mark applied) is visible through the API."""
    ic_id = _post(client, "stop-run", run_id=seeded.ongoing).get_json()["ic_id"]
    with store.write() as session:
        runs.update_run(session, seeded.ongoing, status="STOPPED")
        ic_ops.mark_completed(session, ic_id)
    assert _post(client, "get-run", run_id=seeded.ongoing).get_json()["status"] == "STOPPED"
    assert client.get("/dispatcher/all-operations").get_json() == []
    assert _post(client, "resume-run", run_id=seeded.ongoing).status_code == 200
