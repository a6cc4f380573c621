"""get-all-runs: the run listing with its ETag, and two caches that keep it fast.

ETag: (this app's salt, experiment id, experiment revision, query), read with
one tiny query. The data layer bumps the revision in the same transaction as
every run write, so an unchanged revision means an unchanged listing. The salt
changes with every app, so a restarted server (perhaps on another database)
never answers 304 to a tag it did not issue.

Body cache: the last few encoded listings, by ETag.

Row cache: each run's encoded JSON, keyed by its `updated_at` (which the data
layer stamps on every run write). When a revision changes, only the
(run_id, updated_at) pairs are read, and only the runs that changed are read in
full and encoded again; a live experiment changes a few runs per chunk.

Whole listing: the listing clients poll (no filter, no page) is also kept as a
`FullListing` (splice.py): after a change only the runs written since its
newest stamp are read and spliced in; every FULL_CHECK_SECONDS all the
(run_id, updated_at) pairs are compared instead, as a net.

The revision, the pairs and the changed rows are read in one transaction (one
snapshot), so a body is never newer or older than its tag.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from rfconsole.db import listing as queries
from rfconsole.db.store import Store

from . import rows
from .errors import ApiError
from .responses import Body, body_length
from .splice import CHANGE_MARGIN, FULL_CHECK_SECONDS, FullListing

logger = logging.getLogger("rfconsole.dispatcher")

BODY_CACHE_ENTRIES = 8
BODY_CACHE_BYTES = 48 * 1024 * 1024
ROW_CACHE_EXPERIMENTS = 4


@dataclass(frozen=True)
class Listing:
    etag: str
    total: int | None  # None on a 304
    body: Body | None  # None: the client's copy is current (304)


class RunListing:
    """Builds (and caches) the encoded run listing of one database; thread-safe."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._salt = secrets.token_hex(4)
        self._lock = threading.Lock()
        self._bodies: OrderedDict[str, tuple[Body, int]] = OrderedDict()
        self._body_bytes = 0
        # experiment id -> {run_id: (updated_at text, encoded run)}
        self._rows: OrderedDict[int, dict[int, tuple[str, bytes]]] = OrderedDict()
        # The whole listing of the experiment last listed whole (see splice.py).
        self._full: FullListing | None = None
        self._full_lock = threading.Lock()

    def get(self, *, experiment: str | None, statuses: list[str] | None, limit: int | None,
            offset: int, if_none_match: str | None) -> Listing:
        with queries.snapshot(self._store.engine) as snap:
            summary = snap.experiment(experiment)
            if summary is None:
                if experiment is not None:
                    raise ApiError(404, f"There is no experiment named {experiment!r}.")
                return Listing(f'"{self._salt}-none"', 0, b"[]")
            query = f"{'+'.join(statuses or ())}-{limit}-{offset}"
            etag = f'"{self._salt}-{summary.id}-{summary.revision}-{query}"'
            if if_none_match is not None and _matches(if_none_match, etag):
                return Listing(etag, None, None)
            cached = self._cached_body(etag)
            if cached is not None:
                return Listing(etag, cached[1], cached[0])
            whole = not statuses and limit is None and not offset
            found = self._spliced(snap, summary) if whole else None
            body: Body
            if found is None:
                total, body = self._build(snap, summary.id, summary.name, statuses, limit, offset)
            else:
                total, body = found
        self._store_body(etag, body, total)
        return Listing(etag, total, body)

    def prewarm(self) -> None:
        """Encode the current experiment's runs once, so that the first listing a client asks
        for only re-encodes the runs that changed since (10,000 runs: ~0.1 s here, not there)."""
        try:
            self.get(experiment=None, statuses=None, limit=None, offset=0, if_none_match=None)
        except Exception:  # a cache warm-up must never stop the app from starting
            logger.warning("Could not prepare the run listing cache", exc_info=True)

    def _build(self, snap: queries.ListingSnapshot, experiment_id: int, name: str,
               statuses: list[str] | None, limit: int | None, offset: int) -> tuple[int, bytes]:
        known = self._row_cache(experiment_id)
        if not known:  # nothing encoded yet: one scan of the full rows, no version check first
            page = snap.page_rows(experiment_id, statuses, limit, offset)
            fresh = {row[0]: (row[-1], encoded_run(row, name)) for row in page}
            parts = [encoded for _, encoded in fresh.values()]
            paged = limit is not None or offset
            total = snap.count(experiment_id, statuses) if paged else len(parts)
        else:
            total = snap.count(experiment_id, statuses)
            _, parts, fresh = self._refresh(snap, known, experiment_id, name, statuses, limit, offset)
        if fresh:
            with self._lock:
                known.update(fresh)
        return total, b"[" + b",".join(parts) + b"]"

    def _spliced(self, snap: queries.ListingSnapshot,
                 summary: queries.ExperimentSummary) -> tuple[int, Body] | None:
        """The whole listing from the kept one and the runs written since, or (when that is not
        safe, see splice.py) from all the versions, kept for next time; None: build it as a page."""
        def encode(row: queries.RunRow) -> bytes:
            return encoded_run(row, summary.name)

        with self._full_lock:
            full = self._full
            if full is not None and full.experiment_id == summary.id and summary.revision < full.revision:
                return None  # an older snapshot than the kept listing's: leave that one alone
            total = snap.count(summary.id, None)
            now = time.monotonic()
            if full is not None and full.experiment_id == summary.id and full.newest is not None:
                checking = now - full.checked_at >= FULL_CHECK_SECONDS
                if checking:  # every pair, now and then: catches a write stamped long before its commit
                    versions = snap.versions(summary.id, None, None, 0)
                else:
                    versions = snap.versions_since(summary.id, queries.stamp_time(full.newest) - CHANGE_MARGIN)
                stale = full.stale(versions)
                if stale is not None:
                    complete = full.splice(snap.rows_by_id(stale) if stale else [], encode)
                    if complete and len(full.ids) == total:
                        full.revision = summary.revision
                        if checking:
                            full.checked_at = now
                        return total, full.body()
            full = self._full = None
            known = self._row_cache(summary.id)
            if known:
                versions, parts, fresh = self._refresh(snap, known, summary.id, summary.name, None, None, 0)
                entries = [(run_id, stamp, part) for (run_id, stamp), part in zip(versions, parts, strict=True)]
                with self._lock:
                    known.update(fresh)
                full = self._full = FullListing(summary.id, summary.revision, entries, now)
            else:  # nothing encoded yet (start-up): segment by segment, runs on their own later
                found = (row for batch in snap.page_batches(summary.id, None, None, 0) for row in batch)
                full = self._full = FullListing.from_rows(
                    summary.id, summary.revision, found, lambda segment: encoded_runs(segment, summary.name), now)
            return len(full.ids), full.body()

    def _refresh(self, snap: queries.ListingSnapshot, known: dict[int, tuple[str, bytes]], experiment_id: int,
                 name: str, statuses: list[str] | None, limit: int | None,
                 offset: int) -> tuple[Any, list[bytes], dict[int, tuple[str, bytes]]]:
        """The page's (run_id, updated_at) pairs, its encoded runs (re-encoding only those whose
        `updated_at` moved), and the re-encoded ones."""
        versions = snap.versions(experiment_id, statuses, limit, offset)
        # Take each cached encoding only if it is of this snapshot's version of the run;
        # another thread may replace cache entries meanwhile, so decide once, here.
        parts: list[bytes] = []
        stale_at: dict[int, int] = {}
        for run_id, stamp in versions:
            hit = known.get(run_id)
            if hit is not None and hit[0] == stamp:
                parts.append(hit[1])
            else:
                stale_at[run_id] = len(parts)
                parts.append(b"")
        changed: Iterable[queries.RunRow]
        if len(stale_at) > len(versions) // 4:  # mostly new to us: one scan beats many lookups
            changed = snap.page_rows(experiment_id, statuses, limit, offset)
        else:
            changed = snap.rows_by_id(list(stale_at)) if stale_at else []
        fresh: dict[int, tuple[str, bytes]] = {}
        for row in changed:
            if row[0] in stale_at:
                fresh[row[0]] = (row[-1], encoded_run(row, name))
                parts[stale_at[row[0]]] = fresh[row[0]][1]
        return versions, parts, fresh

    def _row_cache(self, experiment_id: int) -> dict[int, tuple[str, bytes]]:
        with self._lock:
            known = self._rows.get(experiment_id)
            if known is None:
                known = self._rows[experiment_id] = {}
                while len(self._rows) > ROW_CACHE_EXPERIMENTS:
                    self._rows.popitem(last=False)
            self._rows.move_to_end(experiment_id)
            return known

    def _cached_body(self, etag: str) -> tuple[Body, int] | None:
        with self._lock:
            hit = self._bodies.get(etag)
            if hit is not None:
                self._bodies.move_to_end(etag)
            return hit

    def _store_body(self, etag: str, body: Body, total: int) -> None:
        size = body_length(body)
        if size > BODY_CACHE_BYTES // 2:
            return
        with self._lock:
            if etag in self._bodies:
                return
            self._bodies[etag] = (body, total)
            self._body_bytes += size
            while len(self._bodies) > BODY_CACHE_ENTRIES or self._body_bytes > BODY_CACHE_BYTES:
                _, (old, _) = self._bodies.popitem(last=False)
                self._body_bytes -= body_length(old)


def encoded_run(row: queries.RunRow, experiment_name: str) -> bytes:
    """One run's JSON, in a bytes object of its own size: orjson's output keeps the capacity it
    wrote into (about 8 KB for a 1 KB run), which cached for 10,000 runs is 80 MB, not 10."""
    return memoryview(orjson.dumps(rows.run_dict(row, experiment_name))).tobytes()


def encoded_runs(found: Sequence[queries.RunRow], experiment_name: str) -> bytes:
    """Runs' JSON objects joined by commas (one orjson call; copied out of orjson's output, whose
    capacity is larger than its length)."""
    return memoryview(orjson.dumps([rows.run_dict(row, experiment_name) for row in found]))[1:-1].tobytes()


def _matches(if_none_match: str, etag: str) -> bool:
    """If-None-Match holds `*` or a list of (possibly weak) tags; weak comparison applies."""
    if if_none_match.strip() == "*":
        return True
    for candidate in if_none_match.split(","):
        candidate = candidate.strip()
        if candidate.startswith("W/"):
            candidate = candidate[2:]
        if candidate == etag:
            return True
    return False
