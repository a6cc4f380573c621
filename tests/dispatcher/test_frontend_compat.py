"""RapidFire AI's web frontend, replayed over a real socket: every call its fit-mode panel makes.

Each helper below reads the answer exactly as the frontend does (which keys,
which types, what counts as failure), so a change of shape breaks this test.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests
from rfconsole.db import Store
from rfconsole.dispatcher import create_app
from rfconsole.dispatcher.server import DispatcherServer

from .conftest import Seeded

ORIGIN = {"Origin": "http://localhost:3000"}


class Frontend:
    """The frontend's calls, and how it interprets each answer."""

    def __init__(self, base: str) -> None:
        self.base = f"{base}/dispatcher"
        self.http = requests.Session()

    def close(self) -> None:
        self.http.close()

    def _post(self, route: str, body: dict[str, Any]) -> requests.Response:
        response = self.http.post(f"{self.base}/{route}", json=body, headers=ORIGIN, timeout=10)
        assert response.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
        return response

    def run_panel(self, run_id: int) -> dict[str, Any]:
        run = self._post("get-run", {"run_id": run_id}).json()
        assert isinstance(run["config"], dict)
        assert isinstance(run["status"], str)
        assert isinstance(run["num_chunks_visited"], int)
        return {"config": run["config"], "chunk_number": run["num_chunks_visited"],
                "buttons_disabled": run["status"].lower() == "completed"}

    def op(self, route: str, run_id: int) -> tuple[bool, str | None]:
        response = self._post(route, {"run_id": run_id})
        data = response.json()
        failed = not response.ok or "error" in data
        return (not failed, data.get("error") if failed else None)

    def clone(self, run_id: int, config: dict[str, Any], warm_start: bool) -> tuple[bool, Any]:
        data = self._post("clone-modify-run",
                          {"run_id": run_id, "config": config, "warm_start": warm_start}).json()
        if "error" in data:
            return False, data["error"]
        if data.get("result") is False:
            return False, data.get("err_msg")
        return True, data

    def experiment_is_running(self) -> bool:
        data = self.http.get(f"{self.base}/get-running-experiment", headers=ORIGIN, timeout=10).json()
        return data.get("status") == "running"

    def poll_is_running(self, name: str) -> bool:
        data = self._post("is-experiment-running", {"experiment_name": name}).json()
        assert isinstance(data["is_running"], bool)
        return data["is_running"]

    def logs(self, route: str, name: str) -> list[str]:
        lines = self._post(route, {"experiment_name": name}).json()
        assert isinstance(lines, list)
        assert all(isinstance(line, str) for line in lines)
        return lines


@pytest.fixture
def frontend(store: Store, seeded: Seeded):
    server = DispatcherServer(create_app(store), port=0)
    server.start()
    client = Frontend(server.url)
    yield client
    client.close()
    server.stop()


def test_frontend_session(frontend: Frontend, seeded: Seeded) -> None:
    # Preflight for a JSON POST from the dev server.
    preflight = frontend.http.options(f"{frontend.base}/stop-run", timeout=10, headers={
        **ORIGIN, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"})
    assert preflight.ok
    assert preflight.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"

    assert frontend.experiment_is_running()
    assert frontend.poll_is_running("exp-a") is True
    assert frontend.poll_is_running("some-other") is False

    panel = frontend.run_panel(seeded.ongoing)
    assert panel == {"config": {"learning_rate": 0.1, "model": {"width": 8}}, "chunk_number": 0,
                     "buttons_disabled": False}
    assert frontend.run_panel(seeded.completed)["buttons_disabled"] is True

    assert frontend.op("stop-run", seeded.ongoing) == (True, None)
    ok, error = frontend.op("stop-run", seeded.ongoing)
    assert not ok
    assert "already pending" in error
    ok, error = frontend.op("resume-run", seeded.new)
    assert not ok
    assert "is NEW" in error
    assert frontend.op("resume-run", seeded.stopped) == (True, None)
    assert frontend.op("delete-run", seeded.failed) == (True, None)
    ok, error = frontend.op("stop-run", 4242)
    assert not ok
    assert error == "There is no run with id 4242."

    ok, created = frontend.clone(seeded.ongoing, {"learning_rate": 0.02}, warm_start=True)
    assert ok
    assert created["message"] == "Clone-modify request created"
    assert frontend.run_panel(created["new_run_id"])["config"]["learning_rate"] == 0.02
    ok, error = frontend.clone(seeded.new, {"learning_rate": 0.02}, warm_start=True)
    assert not ok
    assert "no checkpoint" in error

    experiment_lines = frontend.logs("get-experiment-logs", "exp-a")
    assert any("| dispatcher |" in line for line in experiment_lines)
    ic_lines = frontend.logs("get-ic-logs", "exp-a")
    assert ic_lines
    assert all("| interactive-control |" in line for line in ic_lines)
