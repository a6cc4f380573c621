"""Database URLs as they may be shown: passwords masked, SQLite URLs as their file.

`mask_url` (also importable from `rfconsole.db.engine` and `rfconsole.db`) is the one
way the code base prints or logs a database URL.
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError


def mask_url(url: str | URL | os.PathLike[str]) -> str:
    """`url` fit to show or log: its password replaced by `***`.

    A path (no "://") is returned as it is. Text that does not parse as a URL is
    shown as its scheme only (`postgresql://…`), since it may hold a password in
    a place the parser could not find.
    """
    if isinstance(url, URL):
        return url.render_as_string(hide_password=True)
    text = os.fspath(url)
    if "://" not in text:
        return text
    try:
        return make_url(text).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return f"{text.split('://', 1)[0]}://…"


def sqlite_file(url: str | URL) -> Path | None:
    """The file behind an SQLite URL, or None for other databases and :memory:."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return None
    if parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def describe_url(url: str | URL | None) -> str:
    """How messages name a database: the SQLite file, or the URL with its password hidden."""
    if url is None:
        return "the given URL"
    try:
        path = sqlite_file(url)
    except (ArgumentError, ValueError):
        return mask_url(url)
    return str(path) if path is not None else mask_url(url)
