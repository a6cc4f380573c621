"""The production entry points: `rfconsole.dispatcher.wsgi:app` and dispatcher/gunicorn.conf.py."""

from __future__ import annotations

import importlib
import runpy
from pathlib import Path

import pytest
import rfconsole.dispatcher as dispatcher_package
from rfconsole.db import Store, experiments

GUNICORN_CONF = Path(dispatcher_package.__file__).parent / "gunicorn.conf.py"


def test_wsgi_app_is_built_on_first_use_from_the_environment(
        db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store.open(str(db_path))
    with store.write() as session:
        experiments.create_experiment(session, name="prod", experiment_path=str(db_path.parent / "p"))
    store.close()
    monkeypatch.setenv("RFCONSOLE_DB", str(db_path))
    monkeypatch.setenv("RFCONSOLE_TOKEN", "abc")
    wsgi = importlib.reload(importlib.import_module("rfconsole.dispatcher.wsgi"))
    assert wsgi._app is None  # importing built nothing
    client = wsgi.app.test_client()
    assert wsgi.app is wsgi.app
    assert client.get("/dispatcher/get-all-experiment-names").status_code == 401
    names = client.get("/dispatcher/get-all-experiment-names", headers={"Authorization": "Bearer abc"})
    assert names.get_json() == ["prod"]
    with pytest.raises(AttributeError):
        _ = wsgi.not_there
    wsgi.app.extensions["rfconsole"].store.close()


def test_gunicorn_conf_defaults_to_loopback() -> None:
    settings = runpy.run_path(str(GUNICORN_CONF))
    assert settings["bind"] == "127.0.0.1:8081"
    assert (settings["workers"], settings["timeout"], settings["loglevel"]) == (4, 120, "info")
    settings["on_starting"](None)  # loopback: no token needed


def test_gunicorn_conf_refuses_exposed_bind_without_token(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("RFCONSOLE_BIND", "0.0.0.0:8081")
    settings = runpy.run_path(str(GUNICORN_CONF))
    assert settings["bind"] == "0.0.0.0:8081"
    with pytest.raises(SystemExit) as stopped:
        settings["on_starting"](None)
    assert stopped.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith("rfconsole: Refusing to serve on 0.0.0.0 without a token")
    assert err.count("\n") == 1
    monkeypatch.setenv("RFCONSOLE_TOKEN", "abc")
    runpy.run_path(str(GUNICORN_CONF))["on_starting"](None)


@pytest.mark.parametrize("workers", ["abc", "0", "-2"])
def test_gunicorn_conf_bad_worker_count_is_one_line(
        workers: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("RFCONSOLE_WORKERS", workers)
    with pytest.raises(SystemExit) as stopped:
        runpy.run_path(str(GUNICORN_CONF))
    assert stopped.value.code == 1
    err = capsys.readouterr().err
    assert err == (f"rfconsole: RFCONSOLE_WORKERS must be a whole number of 1 or more, "
                   f"not {workers!r}.\n")
