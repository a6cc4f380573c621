"""Typed refusals of the data layer.

Each carries one sentence a person can act on. The dispatcher maps them to HTTP
statuses (404 / 409 / 400) and the console shows the sentence as it is.
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
    """The request breaks the run-state rules (DESIGN.md §3)."""

    status = 409


class InvalidError(StoreError):
    """The request is malformed: a bad config, a schema violation, a bad value."""

    status = 400


class SchemaVersionError(StoreError):
    """The database was written by another version of rfconsole's schema."""

    status = 500
