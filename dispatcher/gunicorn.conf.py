"""Gunicorn settings for the dispatcher (RapidFire's production setup).

    pip install 'rfconsole[gunicorn]'
    RFCONSOLE_TOKEN=secret RFCONSOLE_BIND=0.0.0.0:8081 \\
        gunicorn -c dispatcher/gunicorn.conf.py rfconsole.dispatcher.wsgi:app

4 workers, 120 s timeout, info log level, as RapidFire ships. The bind comes
from RFCONSOLE_BIND (or RFCONSOLE_HOST / RFCONSOLE_PORT) and is loopback by
default; a non-loopback bind refuses to start without RFCONSOLE_TOKEN unless
RFCONSOLE_INSECURE=1.
"""

import os
import sys

_host = os.environ.get("RFCONSOLE_HOST") or "127.0.0.1"
_port = os.environ.get("RFCONSOLE_PORT") or "8081"


def _workers() -> int:
    text = (os.environ.get("RFCONSOLE_WORKERS") or "4").strip()
    if not text.isdigit() or int(text) < 1:
        # SystemExit, not ValueError: gunicorn prints a traceback for an exception here.
        print(f"rfconsole: RFCONSOLE_WORKERS must be a whole number of 1 or more, not {text!r}.",
              file=sys.stderr)
        raise SystemExit(1)
    return int(text)


bind = os.environ.get("RFCONSOLE_BIND") or f"{_host}:{_port}"
workers = _workers()
timeout = 120
loglevel = "info"
accesslog = "-"


def _bind_host(address: str) -> str:
    if address.startswith("unix:"):
        return "127.0.0.1"
    host, _, _ = address.rpartition(":")
    return host.strip("[]") or address


def on_starting(server: object) -> None:  # noqa: ARG001 - gunicorn's hook signature
    """Refuse an exposed bind without a token before any worker starts (one line, exit 1)."""
    from rfconsole.dispatcher.security import ServerStartError, check_bind

    insecure = os.environ.get("RFCONSOLE_INSECURE", "").strip().lower() in ("1", "true", "yes", "on")
    try:
        for address in [bind] if isinstance(bind, str) else bind:
            check_bind(_bind_host(address), os.environ.get("RFCONSOLE_TOKEN"), insecure)
    except ServerStartError as exc:
        print(f"rfconsole: {exc.message}", file=sys.stderr)
        raise SystemExit(1) from None
