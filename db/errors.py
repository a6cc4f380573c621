"""Typed refusals of the data layer.

Each carries one sentence a person can act on. The dispatcher maps them to HTTP
statuses (404 / 409 / 400 / 503) and the console shows the sentence as it is.
"""

from __future__ import annotations


class StoreError(Exception):
    """Base class of every refusal the data layer raises on purpose."""

    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFoundError(StoreError):
    """The run, experiment or op asked for does not exist."""

    status = 404


class ConflictError(StoreError):
    """The request breaks the run-state rules (which op is allowed from which run status)."""

    status = 409


class InvalidError(StoreError):
    """The request is malformed: a bad config, a schema violation, a bad value."""

    status = 400


class SchemaVersionError(StoreError):
    """The database was written by another version of rfconsole's schema."""

    status = 500


class DatabaseUnavailableError(StoreError):
    """The database cannot serve the request right now, though nothing is wrong with the
    request itself: the API answers 503 and the console shows the sentence."""

    status = 503


class DatabaseReadOnly(DatabaseUnavailableError):
    """The database (its file, its folder, or the server's transaction) refuses writes.

    Raised for SQLite's "attempt to write a readonly database" and PostgreSQL's
    read-only transactions. Retrying does not help until someone changes the
    file's permissions or points --db elsewhere, so the API sends no Retry-After.
    """


class DatabaseBusy(DatabaseUnavailableError):
    """Another writer held the database's lock for longer than the busy timeout.

    Raised for SQLite's "database is locked" after its busy timeout and for
    PostgreSQL's lock timeouts. It is transient: the API answers 503 with a
    Retry-After header (`retry_after` seconds) and the request may be sent again.
    """

    retry_after = 5
