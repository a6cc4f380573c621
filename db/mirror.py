"""Reads for a process that follows an experiment from outside the controller (the MLflow mirror).

    url = mirror.connection_url(store)                   # hand to the follower's Store.open
    seen = mirror.changes(store, experiment_id, None)    # Changes(revision, run_ids, read_at)
    later = mirror.changes(store, experiment_id, seen.read_at - margin, seen.revision)

A follower polls `changes`: it costs one small read while nothing changed (the
revision is the same), and otherwise names the runs written since a moment.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from sqlalchemy import bindparam, select

from .listing import EXPERIMENTS, ListingSnapshot
from .models import utcnow
from .store import Store

_REVISION = select(EXPERIMENTS.revision).where(EXPERIMENTS.id == bindparam("wanted_experiment_id"))


class Changes(NamedTuple):
    revision: int  # the experiment's revision when read (-1: no such experiment)
    run_ids: list[int]  # runs written at `since` or later (all runs when since was None)
    read_at: datetime  # taken just before the read: the `since` of a later call, less a margin


def connection_url(store: Store) -> str:
    """The store's URL, password included, for a child process of ours (never print it)."""
    return store.engine.url.render_as_string(hide_password=False)


def changes(store: Store, experiment_id: int, since: datetime | None,
            known_revision: int | None = None) -> Changes:
    """The experiment's revision and the runs written at `since` or later, in one snapshot;
    no runs are read when the revision is still `known_revision`."""
    read_at = utcnow()
    with store.engine.connect() as conn:  # one transaction: one snapshot
        revision = conn.execute(_REVISION, {"wanted_experiment_id": experiment_id}).scalar()
        if revision is None:
            return Changes(-1, [], read_at)
        if revision == known_revision:
            return Changes(revision, [], read_at)
        snap = ListingSnapshot(conn)
        if since is None:
            pairs = snap.versions(experiment_id, None, None, 0)
        else:
            pairs = snap.versions_since(experiment_id, since)
    return Changes(int(revision), [int(pair[0]) for pair in pairs], read_at)
