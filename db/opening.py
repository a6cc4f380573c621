"""Checks made before a database is opened, so that a wrong --db writes nothing anywhere.

- The --db text (or RFCONSOLE_DB) may not hold control characters: a line break
  pasted into it would otherwise name another file, silently.
- An existing, non-empty file that holds tables but no rfconsole schema is
  refused after reading it (read-only) and before any connection that could
  write to it (our connections switch it to WAL and create tables).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from .errors import InvalidError, SchemaVersionError, StoreError

META_TABLE = "rfconsole_meta"
_SQLITE_HEADER = b"SQLite format 3\x00"


def check_db_text(value: str) -> None:
    """Refuse a --db value holding a line break, a tab, NUL or any other control character."""
    if not value.isprintable():
        raise InvalidError(
            "The database given with --db or RFCONSOLE_DB holds a control character (a line "
            "break, a tab or the like); give the path or URL on one line."
        )


def refuse_foreign_sqlite(path: Path) -> None:
    """Refuse `path` if it is a non-empty file that rfconsole did not make; only reads it.

    A missing or empty file is a new database. A file that is not SQLite, or an
    SQLite database with tables but no `rfconsole_meta`, is refused with one
    sentence. Anything else that stops the reading (a folder, no permission) is
    left to the normal opening, which says what is wrong.
    """
    try:
        if not path.is_file() or path.stat().st_size == 0:
            return
        with path.open("rb") as file:
            header = file.read(len(_SQLITE_HEADER))
    except OSError:
        return
    if header != _SQLITE_HEADER:
        raise StoreError(
            f"Cannot open the database at {path}: file is not a database; check --db or RFCONSOLE_DB."
        )
    tables = _table_names(path)
    if tables and META_TABLE not in tables:
        raise SchemaVersionError(
            f"The database at {path} was not made by rfconsole (it has no {META_TABLE} "
            f"table); point --db at another file."
        )


def _table_names(path: Path) -> set[str]:
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error:
        return set()  # the normal opening reports it
    try:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    except sqlite3.DatabaseError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            return set()  # being written by another process: rfconsole's own, or refused later
        raise StoreError(
            f"Cannot open the database at {path}: {str(exc).rstrip('.')}; check --db or RFCONSOLE_DB."
        ) from exc
    finally:
        conn.close()
    return {name for (name,) in rows if not name.startswith("sqlite_")}
