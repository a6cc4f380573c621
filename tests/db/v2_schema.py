"""A database of schema version 2: the version-1 database of v1_schema.py brought to version 2 by
the same step rfconsole 0.2 ran on open (so the same tables, columns and indexes).

Used to show that opening such a database migrates it to the current schema and keeps its rows.
"""

from __future__ import annotations

from rfconsole.db import migrate
from sqlalchemy import Engine, text

from .v1_schema import build_v1


def build_v2(engine: Engine) -> None:
    """Create the version-2 tables on `engine` with one experiment, one run and a metric in them."""
    build_v1(engine)
    with engine.begin() as conn:
        migrate.STEPS[1](conn)
        conn.execute(text("UPDATE rfconsole_meta SET value = '2' WHERE key = 'schema_version'"))
