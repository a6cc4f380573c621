"""Gunicorn settings for the dispatcher (RapidFire's production setup).

    pip install 'rfconsole[gunicorn]'
    RFCONSOLE_TOKEN=secret RFCONSOLE_BIND=0.0.0.0:8081 \\
        gunicorn -c dispatcher/gunicorn.conf.py rfconsole.dispatcher.wsgi:app

4 workers, 120 s timeout, info log level, as RapidFire ships. The bind comes
from RFCONSOLE_BIND (or RFCONSOLE_HOST / RFCONSOLE_PORT) and is loopback by
default. Whatever the bind finally is (this file, `-b`, GUNICORN_CMD_ARGS), an
address that is not loopback refuses to start without RFCONSOLE_TOKEN unless
RFCONSOLE_INSECURE=1: `on_starting` checks the addresses gunicorn is about to
bind and `when_ready` the sockets it did bind (file descriptors included). The
bound hosts are handed to the app (RFCONSOLE_BIND, inherited by the workers) for
its Host check. All settings are read by rfconsole.dispatcher.config.
"""

import os
import sys
from typing import Any

from rfconsole.dispatcher.config import ConfigError, from_env


def _settings() -> "dict[str, Any]":
    try:
        found: dict[str, Any] = from_env()
    except ConfigError as exc:
        # SystemExit, not an exception: gunicorn prints a traceback for an exception here.
        print(f"rfconsole: {exc.message}", file=sys.stderr)
        raise SystemExit(1) from None
    return found


_env = _settings()


def _default_bind() -> "str | list[str]":
    if "BIND" in _env:  # comma-separated addresses: a list for gunicorn
        return _env["BIND"][0] if len(_env["BIND"]) == 1 else list(_env["BIND"])
    host = _env.get("BIND_HOSTS", ("127.0.0.1",))[0]
    return f"{f'[{host}]' if ':' in host else host}:{_env.get('PORT', 8081)}"


bind = _default_bind()
workers = _env.get("WORKERS", 4)
timeout = 120
loglevel = "info"
accesslog = "-"


def _refuse_exposed(addresses: list[str]) -> None:
    """Exit with one line if an address is exposed without a token (and not RFCONSOLE_INSECURE)."""
    from rfconsole.dispatcher.config import bind_host
    from rfconsole.dispatcher.errors import ServerStartError
    from rfconsole.dispatcher.security import check_bind

    try:
        for address in addresses:
            check_bind(bind_host(address), _env.get("TOKEN"), bool(_env.get("INSECURE")))
    except ServerStartError as exc:
        print(f"rfconsole: {exc.message}", file=sys.stderr, flush=True)
        raise SystemExit(1) from None


def _configured_binds(server: object) -> list[str]:
    cfg = getattr(server, "cfg", None)
    found = getattr(cfg, "bind", None) if cfg is not None else None
    if not found:
        return [bind] if isinstance(bind, str) else list(bind)
    return [found] if isinstance(found, str) else list(found)


def on_starting(server: object) -> None:
    """Before any socket or worker: check every address gunicorn will bind, however it was given."""
    addresses = _configured_binds(server)
    _refuse_exposed(addresses)
    os.environ["RFCONSOLE_BIND"] = ",".join(addresses)  # the workers' Host check knows the bound hosts


def when_ready(server: object) -> None:
    """After binding, before any worker: check the sockets themselves (e.g. inherited descriptors)."""
    bound = []
    for listener in getattr(server, "LISTENERS", []):
        name = listener.sock.getsockname() if hasattr(listener, "sock") else None
        if isinstance(name, tuple):  # (host, port[, flow, scope]) of an IP socket
            bound.append(f"[{name[0]}]:{name[1]}" if ":" in name[0] else f"{name[0]}:{name[1]}")
    _refuse_exposed(bound)
