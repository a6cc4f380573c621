"""The dispatcher's settings: one mapping, read from `RFCONSOLE_*` variables in this one place.

    create_app(store, config={"TOKEN": "s3cret", "READONLY": True})
    create_app(store, config=from_env())          # what the WSGI entry point does

Keys (`create_app` also takes them as lower-case keyword arguments):

| key | environment | meaning |
|---|---|---|
| `TOKEN` | `RFCONSOLE_TOKEN` | API routes but health-check, server info, preflight need `Bearer <token>` |
| `CORS_ORIGINS` | `RFCONSOLE_CORS_ORIGIN` (a,b) | origins allowed besides the page's own and loopback ones |
| `ALLOWED_HOSTS` | `RFCONSOLE_ALLOWED_HOSTS` (a,b) | `Host` names served without a token besides loopback, bound ones |
| `BIND_HOSTS` | `RFCONSOLE_BIND` or `RFCONSOLE_HOST` | the addresses served on (their names pass the `Host` check) |
| `READONLY` | `RFCONSOLE_READONLY` | every op route answers 403 |
| `LOG_COMPONENT` | – | the component name of this app's lines in the experiment log |
| `MAX_CONTENT_LENGTH` | – | the largest request body, in bytes (Flask's own key) |
| `PREWARM` | – | encode the current experiment's runs at start-up |

In both lists `*` allows any. `from_env` also reads what the process around the app needs: `DB`
(`RFCONSOLE_DB`), `PORT`, `INSECURE`, `WORKERS` (gunicorn).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

PREFIX = "RFCONSOLE_"
MAX_BODY_BYTES = 1024 * 1024

DEFAULTS: dict[str, Any] = {
    "TOKEN": None,
    "CORS_ORIGINS": (),
    "ALLOWED_HOSTS": (),
    "BIND_HOSTS": ("127.0.0.1",),
    "READONLY": False,
    "LOG_COMPONENT": "dispatcher",
    "MAX_CONTENT_LENGTH": MAX_BODY_BYTES,
    "PREWARM": True,
}
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


class ConfigError(ValueError):
    """A setting that cannot be used; the message is one sentence naming it."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def parse_flag(name: str, text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ConfigError(f"{PREFIX}{name}={text!r} is not a yes/no value (use 1 or 0).")


def parse_list(text: str) -> tuple[str, ...]:
    """Split a comma-separated list: "a, b,,c" -> ("a", "b", "c")."""
    return tuple(part.strip() for part in text.split(",") if part.strip())


def parse_whole(name: str, text: str, low: int = 0) -> int:
    stripped = text.strip()
    if not stripped.isdigit() or int(stripped) < low:
        raise ConfigError(f"{PREFIX}{name} must be a whole number of {low} or more, not {text!r}.")
    return int(stripped)


def bind_host(address: str) -> str:
    """The host of a bind address: "0.0.0.0:8081" -> "0.0.0.0", "[::1]:80" -> "::1",
    "unix:/run/x.sock" -> "127.0.0.1" (a socket file is local), "example.org" -> "example.org"."""
    address = address.strip()
    if address.startswith(("unix:", "fd://")):
        return "127.0.0.1"
    if address.startswith("["):
        return address[1:address.find("]")] if "]" in address else address[1:]
    host, colon, port = address.rpartition(":")
    if colon and host and ":" not in host and port.isdigit():
        return host
    return address


def from_env(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The settings the environment gives (only those it gives); ConfigError for a bad value."""
    env = os.environ if environ is None else environ

    def get(name: str) -> str | None:
        value = env.get(PREFIX + name)
        return value if value not in (None, "") else None

    found: dict[str, Any] = {}
    if (token := get("TOKEN")) is not None:
        found["TOKEN"] = token
    if (origins := get("CORS_ORIGIN")) is not None:
        found["CORS_ORIGINS"] = parse_list(origins)
    if (hosts := get("ALLOWED_HOSTS")) is not None:
        found["ALLOWED_HOSTS"] = parse_list(hosts)
    if (bind := get("BIND")) is not None:
        found["BIND"] = parse_list(bind)
        found["BIND_HOSTS"] = tuple(bind_host(address) for address in found["BIND"])
    elif (host := get("HOST")) is not None:
        found["BIND_HOSTS"] = (host.strip(),)
    if (port := get("PORT")) is not None:
        found["PORT"] = parse_whole("PORT", port)
    for flag in ("READONLY", "INSECURE"):
        if (text := get(flag)) is not None:
            found[flag] = parse_flag(flag, text)
    if (workers := get("WORKERS")) is not None:
        found["WORKERS"] = parse_whole("WORKERS", workers, low=1)
    if (db := get("DB")) is not None:
        found["DB"] = db
    return found


def _strings(key: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return parse_list(value)
    if not isinstance(value, Iterable) or not all(isinstance(item, str) for item in value):
        raise ConfigError(f"The dispatcher setting {key} must be a list of strings.")
    return tuple(item.strip() for item in value if item.strip())


def settings(config: Mapping[str, Any] | None = None, **overrides: Any) -> dict[str, Any]:
    """DEFAULTS, then `config`, then keyword `overrides` (lower-case keys), checked and normalised."""
    merged = dict(DEFAULTS)
    merged.update(config or {})
    for name, value in overrides.items():
        key = name.upper()
        if key not in DEFAULTS:
            raise TypeError(f"create_app() got an unexpected setting {name!r}")
        merged[key] = value
    merged["TOKEN"] = merged["TOKEN"] or None
    for key in ("CORS_ORIGINS", "ALLOWED_HOSTS", "BIND_HOSTS"):
        merged[key] = _strings(key, merged[key] or ())
    merged["CORS_ORIGINS"] = tuple(origin.rstrip("/") for origin in merged["CORS_ORIGINS"])
    for key in ("READONLY", "PREWARM"):
        if isinstance(merged[key], str):
            merged[key] = parse_flag(key, merged[key])
        merged[key] = bool(merged[key])
    return merged
