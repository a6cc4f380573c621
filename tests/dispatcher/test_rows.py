"""Timestamps as the run object shows them, whatever text the database hands back."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from rfconsole.dispatcher.rows import stamp_text


@pytest.mark.parametrize(
    ("stored", "shown"),
    [
        ("2026-01-02 03:04:05.678901", "2026-01-02T03:04:05.678901+00:00"),  # SQLite
        ("2026-01-02 03:04:05.678901+00", "2026-01-02T03:04:05.678901+00:00"),  # PostgreSQL
        ("2026-01-02 03:04:05+00", "2026-01-02T03:04:05+00:00"),
        ("2026-01-02 03:04:05", "2026-01-02T03:04:05+00:00"),
        (datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc), "2026-01-02T03:04:05+00:00"),
        (None, None),
    ],
)
def test_stamp_text(stored, shown):
    assert stamp_text(stored) == shown
