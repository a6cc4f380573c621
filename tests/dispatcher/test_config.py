"""The dispatcher's settings: one mapping, the RFCONSOLE_* variables read in one place; no SQL in dispatcher/."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import rfconsole.dispatcher as dispatcher_package
from rfconsole.db import Store
from rfconsole.dispatcher import create_app
from rfconsole.dispatcher.config import ConfigError, bind_host, from_env, settings

from .conftest import Seeded

DISPATCHER = Path(dispatcher_package.__file__).parent


def test_from_env_reads_every_dispatcher_variable() -> None:
    env = {"RFCONSOLE_TOKEN": "t", "RFCONSOLE_CORS_ORIGIN": "https://a.example, https://b.example",
           "RFCONSOLE_ALLOWED_HOSTS": "runs.lab,ops.lab", "RFCONSOLE_READONLY": "yes",
           "RFCONSOLE_BIND": "0.0.0.0:8081,[::1]:8082", "RFCONSOLE_WORKERS": "2", "RFCONSOLE_DB": "/x.db",
           "RFCONSOLE_INSECURE": "0", "RFCONSOLE_PORT": "9000", "OTHER": "ignored"}
    assert from_env(env) == {
        "TOKEN": "t", "CORS_ORIGINS": ("https://a.example", "https://b.example"),
        "ALLOWED_HOSTS": ("runs.lab", "ops.lab"), "READONLY": True, "INSECURE": False,
        "BIND": ("0.0.0.0:8081", "[::1]:8082"), "BIND_HOSTS": ("0.0.0.0", "::1"), "WORKERS": 2,
        "DB": "/x.db", "PORT": 9000,
    }
    assert from_env({"RFCONSOLE_HOST": "10.1.2.3", "RFCONSOLE_TOKEN": ""}) == {"BIND_HOSTS": ("10.1.2.3",)}


@pytest.mark.parametrize(("name", "value", "sentence"), [
    ("READONLY", "maybe", "RFCONSOLE_READONLY='maybe' is not a yes/no value (use 1 or 0)."),
    ("WORKERS", "0", "RFCONSOLE_WORKERS must be a whole number of 1 or more, not '0'."),
    ("PORT", "http", "RFCONSOLE_PORT must be a whole number of 0 or more, not 'http'."),
])
def test_a_bad_variable_is_one_sentence(name: str, value: str, sentence: str) -> None:
    with pytest.raises(ConfigError) as refused:
        from_env({f"RFCONSOLE_{name}": value})
    assert refused.value.message == sentence


@pytest.mark.parametrize(("address", "host"), [
    ("0.0.0.0:8081", "0.0.0.0"), ("[::1]:80", "::1"), ("example.org", "example.org"),
    ("unix:/run/rfconsole.sock", "127.0.0.1"), ("::", "::"),
])
def test_bind_host(address: str, host: str) -> None:
    assert bind_host(address) == host


def test_settings_merge_and_check() -> None:
    chosen = settings({"TOKEN": "", "CORS_ORIGINS": "https://a.example/"}, readonly="1")
    assert chosen["TOKEN"] is None
    assert chosen["CORS_ORIGINS"] == ("https://a.example",)
    assert chosen["READONLY"] is True
    with pytest.raises(TypeError, match="unexpected setting 'tokn'"):
        settings(tokn="x")


def test_create_app_takes_a_config_mapping(store: Store, seeded: Seeded) -> None:
    app = create_app(store, {"TOKEN": "s3cret", "READONLY": True, "MAX_CONTENT_LENGTH": 2048})
    assert app.config["READONLY"] is True
    assert app.config["MAX_CONTENT_LENGTH"] == 2048
    client = app.test_client()
    assert client.get("/dispatcher/get-all-runs").status_code == 401
    good = {"Authorization": "Bearer s3cret"}
    assert client.post("/dispatcher/stop-run", json={"run_id": seeded.ongoing}, headers=good).status_code == 403


def test_no_dispatcher_module_imports_a_database_library() -> None:
    """Every SQL statement lives in db/; the dispatcher calls named functions there."""
    offenders = []
    for path in sorted(DISPATCHER.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            offenders += [f"{path.name}: {name}" for name in names
                          if name.split(".")[0] in ("sqlalchemy", "sqlmodel", "sqlite3")]
    assert offenders == []


def test_environment_variables_are_read_in_one_place() -> None:
    allowed = ("config.py", "gunicorn.conf.py")  # gunicorn.conf.py hands the binds on to the workers
    readers = []
    for path in sorted(DISPATCHER.glob("*.py")):
        text = path.read_text()
        if path.name not in allowed and ("os.environ" in text or "getenv" in text):
            readers.append(path.name)
    assert readers == []
