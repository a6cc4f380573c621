"""The `rfconsole` command: parse arguments, then hand over to the console, the server or the demo.

Every option also reads an `RFCONSOLE_*` environment variable (the flag wins).
Bad arguments print one line and exit 2; no traceback reaches the user.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

EXIT_USAGE = 2
TRAINERS = ("numpy", "torch")  # the demo's trainers (rfconsole.controller.demo_trainers)


def package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version  # ~20 ms: only for --version

    try:
        return version("rfconsole")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "0+unknown"


def version_line() -> str:
    """What `--version` prints: this rfconsole and the Python running it."""
    return f"rfconsole {package_version()} (Python {platform.python_version()}, {sys.executable})"


class _VersionAction(argparse.Action):
    """`--version`, printed as is (argparse's own would wrap it at the terminal's width)."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS,
                 default: Any = argparse.SUPPRESS, help: str | None = None) -> None:
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        print(version_line())
        parser.exit()


class UsageError(Exception):
    """A bad argument or environment value; the message is the one line the user sees."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message} (see '{self.prog} --help')")


def _env(name: str) -> str | None:
    value = os.environ.get(f"RFCONSOLE_{name}")
    return value if value not in (None, "") else None


def _env_flag(name: str) -> bool:
    value = _env(name)
    if value is None:
        return False
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise UsageError(f"rfconsole: RFCONSOLE_{name}={value!r} is not a yes/no value (use 1 or 0).")


def _typed(kind: Callable[[str], Any], what: str, low: float | None = None,
           high: float | None = None) -> Callable[[str], Any]:
    def convert(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if (low is not None and value < low) or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}")
        return value

    return convert


PORT = _typed(int, "a port number from 0 to 65535", 0, 65535)
POSITIVE = _typed(int, "a whole number of at least 1", 1)
SECONDS = _typed(float, "a number of seconds, 0 or more", 0)
REFRESH = _typed(float, "a refresh interval of at least 0.1 seconds", 0.1)


def _env_typed(name: str, convert: Callable[[str], Any], default: Any) -> Any:
    value = _env(name)
    if value is None:
        return default
    try:
        return convert(value)
    except argparse.ArgumentTypeError as exc:
        raise UsageError(f"rfconsole: RFCONSOLE_{name}: {exc}.") from None


def _env_choice(name: str, choices: tuple[str, ...], default: str) -> str:
    value = _env(name)
    if value is None:
        return default
    if value not in choices:
        raise UsageError(f"rfconsole: RFCONSOLE_{name}={value!r} is not one of {', '.join(choices)}.")
    return value


def _database_option(parser: argparse.ArgumentParser, suppress: bool) -> None:
    parser.add_argument(
        "--db",
        metavar="PATH_OR_URL",
        default=argparse.SUPPRESS if suppress else _env("DB"),
        help="database file or SQLAlchemy URL (env RFCONSOLE_DB; default: the user data folder)",
    )


def _console_options(parser: argparse.ArgumentParser, suppress: bool) -> None:
    def default(value: Any) -> Any:
        return argparse.SUPPRESS if suppress else value

    _database_option(parser, suppress)
    parser.add_argument("--host", default=default(_env("HOST") or "127.0.0.1"),
                        help="dispatcher address (env RFCONSOLE_HOST; default 127.0.0.1)")
    parser.add_argument("--port", type=PORT, default=default(_env_typed("PORT", PORT, 8081)),
                        help="dispatcher port, 0 for any free one (env RFCONSOLE_PORT; default 8081)")
    parser.add_argument("--no-dispatcher", action="store_true",
                        default=default(_env_flag("NO_DISPATCHER")),
                        help="do not serve the REST API beside the console (env RFCONSOLE_NO_DISPATCHER)")
    parser.add_argument("--readonly", action="store_true", default=default(_env_flag("READONLY")),
                        help="watch only: hide and refuse every IC op (env RFCONSOLE_READONLY)")
    parser.add_argument("--token", default=default(_env("TOKEN")),
                        help="require 'Authorization: Bearer TOKEN' on the API (env RFCONSOLE_TOKEN)")
    parser.add_argument("--refresh", type=REFRESH, default=default(_env_typed("REFRESH", REFRESH, 1.0)),
                        metavar="SECONDS", help="console refresh interval (env RFCONSOLE_REFRESH; default 1)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="rfconsole",
        description="Operator console for multi-config ML experiments: watch runs live and "
        "steer them with stop, resume, delete and clone-modify.",
    )
    parser.add_argument("--version", action=_VersionAction,
                        help="print the version and the Python it runs on, then exit")
    _console_options(parser, suppress=False)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    serve = commands.add_parser("serve", help="serve the dispatcher REST API in the foreground")
    # No defaults here: rfconsole.dispatcher.config reads the RFCONSOLE_* variables (a flag wins).
    _database_option(serve, suppress=True)
    serve.add_argument("--host", default=None,
                       help="address to bind (env RFCONSOLE_HOST; default 127.0.0.1)")
    serve.add_argument("--port", type=PORT, default=None,
                       help="port to bind, 0 for any free one (env RFCONSOLE_PORT; default 8081)")
    serve.add_argument("--token", default=None,
                       help="require 'Authorization: Bearer TOKEN' (env RFCONSOLE_TOKEN)")
    serve.add_argument("--cors-origin", action="append", metavar="ORIGIN", default=None,
                       help="another origin allowed by CORS; repeatable (env RFCONSOLE_CORS_ORIGIN, comma-separated)")
    serve.add_argument("--allowed-host", action="append", metavar="HOST", default=None,
                       help="another Host name served without a token, e.g. behind a proxy; repeatable "
                            "(env RFCONSOLE_ALLOWED_HOSTS, comma-separated)")
    serve.add_argument("--insecure", action="store_true", default=None,
                       help="allow a non-loopback address without a token (env RFCONSOLE_INSECURE)")
    serve.add_argument("--readonly", action="store_true", default=argparse.SUPPRESS,
                       help="refuse every IC op with 403 (env RFCONSOLE_READONLY)")

    demo = commands.add_parser("demo", help="run the demo experiment (with the console unless --headless)")
    _console_options(demo, suppress=True)
    demo.add_argument("--headless", action="store_true", default=_env_flag("HEADLESS"),
                      help="run without the console, one line per event; the REST API is served "
                           "as with the console unless --no-dispatcher (env RFCONSOLE_HEADLESS)")
    demo.add_argument("--runs", type=POSITIVE, default=_env_typed("RUNS", POSITIVE, 6),
                      help="number of configs (env RFCONSOLE_RUNS; default 6)")
    demo.add_argument("--chunks", type=POSITIVE, default=_env_typed("CHUNKS", POSITIVE, 30),
                      help="chunks per epoch (env RFCONSOLE_CHUNKS; default 30)")
    demo.add_argument("--epochs", type=POSITIVE, default=_env_typed("EPOCHS", POSITIVE, 5),
                      help="epochs (env RFCONSOLE_EPOCHS; default 5)")
    demo.add_argument("--pace", type=SECONDS, default=_env_typed("PACE", SECONDS, 0.8),
                      metavar="SECONDS",
                      help="minimum seconds per chunk; 0 runs flat out (env RFCONSOLE_PACE; default 0.8)")
    demo.add_argument("--workers", type=POSITIVE, default=_env_typed("WORKERS", POSITIVE, 1),
                      help="runs trained at once (env RFCONSOLE_WORKERS; default 1)")
    demo.add_argument("--trainer", choices=TRAINERS, default=_env_choice("TRAINER", TRAINERS, "numpy"),
                      help="the demo's models: numpy MLPs, or PyTorch ones (needs pip install 'rfconsole[torch]'); "
                      "a resumed experiment keeps its own (env RFCONSOLE_TRAINER; default numpy)")
    demo.add_argument("--experiment", metavar="NAME", default=_env("EXPERIMENT"),
                      help="experiment name; an unfinished one of that name is resumed (env RFCONSOLE_EXPERIMENT)")
    demo.add_argument("--ray", metavar="ADDRESS", nargs="?", const="", default=_env("RAY_ADDRESS"),
                      help="train each run in a Ray actor: on the cluster at ADDRESS (host:port of its "
                           "head), or without one where Ray finds it (RAY_ADDRESS, else a local Ray); "
                           "needs pip install 'rfconsole[ray]' (env RFCONSOLE_RAY_ADDRESS)")
    demo.add_argument("--experiments-dir", metavar="DIR", default=_env("EXPERIMENTS_DIR"),
                      help="where a new experiment's folder (logs, checkpoints) goes: DIR/<name>; with "
                           "--ray, a shared folder every node reaches (env RFCONSOLE_EXPERIMENTS_DIR; "
                           "default beside the SQLite file, or the user data folder)")
    demo.add_argument("--mlflow", metavar="URI", default=_env("MLFLOW_URI"),
                      help="mirror the experiment into this MLflow tracking server, e.g. http://127.0.0.1:5000 "
                           "(needs pip install 'rfconsole[mlflow]'; env RFCONSOLE_MLFLOW_URI)")
    return parser


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = parse_args(argv)
    except UsageError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    try:
        if args.command == "serve":
            from rfconsole.dispatcher.cli import run_serve

            return run_serve(args)
        if args.command == "demo":
            if args.headless:
                from rfconsole.console.launch import run_demo_headless_served

                return run_demo_headless_served(args)
            from rfconsole.console.launch import run_demo_console

            return run_demo_console(args)
        from rfconsole.console.launch import run_console

        return run_console(args)
    except UsageError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except ImportError as exc:
        missing = getattr(exc, "name", "") or ""
        if missing.startswith("rfconsole."):
            print(f"rfconsole: this command is not available in this version ({missing} is missing).",
                  file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
