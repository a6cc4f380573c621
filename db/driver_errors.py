"""Driver errors that are about the database, not the request, as typed refusals.

Every engine of the data layer gets `classify` as its "handle_error" listener,
so whichever code path meets a locked or read-only database (a request, the
listing, the controller's bookkeeping, opening the database) raises
`DatabaseBusy` or `DatabaseReadOnly` with one sentence instead of the driver's
text with SQL and parameters.
"""

from __future__ import annotations

from typing import Any

from .errors import DatabaseBusy, DatabaseReadOnly
from .urls import describe_url

# SQLite's primary result codes (Python 3.11+ gives them), else its messages.
_SQLITE_BUSY_CODES = frozenset({5, 6})  # SQLITE_BUSY, SQLITE_LOCKED
_SQLITE_READ_ONLY_CODES = frozenset({8})  # SQLITE_READONLY
_SQLITE_BUSY = ("database is locked", "database table is locked", "database schema is locked")
_SQLITE_READ_ONLY = ("attempt to write a readonly database", "readonly database")
# PostgreSQL's SQLSTATEs: lock_not_available, query_canceled (statement/lock timeout);
# read_only_sql_transaction.
_PG_BUSY = frozenset({"55P03", "57014"})
_PG_READ_ONLY = frozenset({"25006"})


def classify(context: Any) -> None:
    """The "handle_error" listener: raise the typed refusal for a busy or read-only database."""
    original = context.original_exception
    where = describe_url(context.engine.url if context.engine is not None else None)
    sqlstate = getattr(original, "sqlstate", None) or getattr(original, "pgcode", None)
    code = getattr(original, "sqlite_errorcode", None)
    code = code & 0xFF if isinstance(code, int) else None
    text = str(original).lower()
    if (
        sqlstate in _PG_BUSY
        or code in _SQLITE_BUSY_CODES
        or (sqlstate is None and code is None and any(m in text for m in _SQLITE_BUSY))
    ):
        raise DatabaseBusy(
            f"The database at {where} stayed locked by another writer for longer than the "
            f"busy timeout; try again in a few seconds."
        ) from original
    if (
        sqlstate in _PG_READ_ONLY
        or code in _SQLITE_READ_ONLY_CODES
        or (sqlstate is None and code is None and any(m in text for m in _SQLITE_READ_ONLY))
    ):
        raise DatabaseReadOnly(
            f"The database at {where} is read-only, so nothing can be changed; make the file "
            f"and its folder writable or point --db at another database."
        ) from original

