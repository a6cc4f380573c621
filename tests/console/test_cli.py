"""The `rfconsole` command line: version, help, options from the environment, one-line errors."""

from __future__ import annotations

import subprocess
import sys

import pytest
from rfconsole.console import cli


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    full_env = {k: v for k, v in os.environ.items() if not k.startswith("RFCONSOLE_")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "rfconsole.console", *args],
        capture_output=True, text=True, timeout=60, env=full_env,
    )


def test_version():
    done = _run("--version", env={"COLUMNS": "30"})  # printed as is, never wrapped
    assert done.returncode == 0
    assert done.stdout == cli.version_line() + "\n"
    assert f"Python {sys.version.split()[0]}" in done.stdout


def test_help_lists_every_command():
    done = _run("--help")
    assert done.returncode == 0
    for word in ("serve", "demo", "--db", "--host", "--port", "--no-dispatcher", "--readonly"):
        assert word in done.stdout
    demo = _run("demo", "--help").stdout
    for word in ("--headless", "--runs", "--chunks", "--epochs", "--pace", "--experiment", "--db"):
        assert word in demo
    serve = _run("serve", "--help").stdout
    for word in ("--token", "--cors-origin", "--insecure", "--db"):
        assert word in serve


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--port", "x"], {}, "argument --port: 'x' is not a port number from 0 to 65535"),
        (["demo", "--runs", "0"], {}, "argument --runs: '0' is not a whole number of at least 1"),
        (["demo", "--pace", "-1"], {}, "argument --pace: '-1' is not a number of seconds"),
        (["frobnicate"], {}, "invalid choice: 'frobnicate'"),
        (["serve", "--bogus"], {}, "unrecognized arguments: --bogus"),
        ([], {"RFCONSOLE_PORT": "70000"}, "RFCONSOLE_PORT: '70000' is not a port number"),
        (["demo"], {"RFCONSOLE_READONLY": "maybe"}, "RFCONSOLE_READONLY='maybe' is not a yes/no value"),
    ],
)
def test_bad_arguments_give_one_line_and_exit_2(args, env, message):
    done = _run(*args, env=env)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert message in lines[0]
    assert "Traceback" not in done.stderr


def test_db_is_accepted_before_and_after_the_command(tmp_path):
    before = cli.parse_args(["--db", str(tmp_path / "a.db"), "demo"])
    after = cli.parse_args(["demo", "--db", str(tmp_path / "b.db")])
    assert before.db.endswith("a.db")
    assert after.db.endswith("b.db")
    serve = cli.parse_args(["serve", "--db", "sqlite:///x.db"])
    assert serve.db == "sqlite:///x.db"


def test_options_read_the_environment_and_flags_win(monkeypatch, tmp_path):
    monkeypatch.setenv("RFCONSOLE_DB", str(tmp_path / "env.db"))
    monkeypatch.setenv("RFCONSOLE_PORT", "9000")
    monkeypatch.setenv("RFCONSOLE_READONLY", "1")
    monkeypatch.setenv("RFCONSOLE_PACE", "0")
    monkeypatch.setenv("RFCONSOLE_CORS_ORIGIN", "http://a.example,http://b.example")
    args = cli.parse_args([])
    assert (args.db, args.port, args.readonly) == (str(tmp_path / "env.db"), 9000, True)
    assert cli.parse_args(["--port", "9100"]).port == 9100
    assert cli.parse_args(["demo"]).pace == 0
    assert cli.parse_args(["demo"]).mlflow is None
    monkeypatch.setenv("RFCONSOLE_MLFLOW_URI", "http://127.0.0.1:5000")
    assert cli.parse_args(["demo"]).mlflow == "http://127.0.0.1:5000"
    assert cli.parse_args(["demo", "--mlflow", "http://mlflow:5000"]).mlflow == "http://mlflow:5000"
    # serve's variables are read by the dispatcher's settings (one place); its flags win.
    from rfconsole.dispatcher.cli import serve_settings

    served = serve_settings(cli.parse_args(["serve"]))
    assert served["CORS_ORIGINS"] == ("http://a.example", "http://b.example")
    assert (served["PORT"], served["READONLY"]) == (9000, True)
    assert serve_settings(cli.parse_args(["serve", "--port", "9100"]))["PORT"] == 9100
