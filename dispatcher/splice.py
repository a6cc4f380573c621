"""The whole listing of one experiment, kept so that a change is spliced in, not re-read.

A live experiment changes a few runs per chunk, while clients poll the whole
listing (no filter, no page). After a change, `FullListing.splice` takes only
the runs written since its newest `updated_at` (less `CHANGE_MARGIN`, so that a
write stamped just before another's commit is not missed), re-encodes those
whose stamp moved, appends new runs, and re-joins the segments it touched:
about a millisecond at 10,000 runs, where re-reading every (run_id, updated_at)
pair took 15.

The body is never joined whole: runs are kept joined in segments of
`SEGMENT_RUNS`, a splice re-joins only the segments it touched, and the body
is the tuple of pieces "[", segment, ",", segment, ..., "]" that the response
sends one after the other (joining 10 MB took longer than the splice itself).
Built from scratch (start-up), the listing is encoded one segment at a time
(one orjson call per 256 runs, a third faster than run by run); a segment's
runs get their own encodings the first time a change touches it.

Safety nets: every `FULL_CHECK_SECONDS` all the (run_id, updated_at) pairs are
compared, not only those written since (a writer whose clock is behind by more
than the margin); and the caller rebuilds the listing from scratch when the run
count differs from the database's (a run removed, or one missed), a new run id
is lower than the last one, a touched segment lacks a run (gone meanwhile), or
a snapshot is older than the listing's revision (another thread spliced a
newer one).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import timedelta
from typing import Any

CHANGE_MARGIN = timedelta(seconds=2)
FULL_CHECK_SECONDS = 15.0
# Runs per joined segment of the body (~1 KB each: a few hundred KB per segment).
SEGMENT_RUNS = 256


class FullListing:
    """Encoded runs of one experiment in run id order, with their `updated_at` stamps.

    A run's own encoding (`parts`) may be None when the listing was built segment by
    segment (`from_rows`): it is made when a change first touches its segment.
    """

    def __init__(self, experiment_id: int, revision: int, entries: Iterable[tuple[int, str, bytes | None]],
                 checked_at: float, segments: list[bytes] | None = None) -> None:
        self.experiment_id = experiment_id
        self.revision = revision
        self.checked_at = checked_at
        self.ids: list[int] = []
        self.stamps: list[str] = []
        self.parts: list[bytes | None] = []
        for run_id, stamp, encoded in entries:
            self.ids.append(run_id)
            self.stamps.append(stamp)
            self.parts.append(encoded)
        self.index = {run_id: position for position, run_id in enumerate(self.ids)}
        self.newest = max(self.stamps, default=None)
        # Joined segments of `parts`; None: to be joined again.
        self._segments: list[bytes | None] = (
            list(segments) if segments is not None else [None] * -(-len(self.ids) // SEGMENT_RUNS))

    @classmethod
    def from_rows(cls, experiment_id: int, revision: int, rows: Iterable[Sequence[Any]],
                  encode_segment: Callable[[Sequence[Sequence[Any]]], bytes], checked_at: float) -> FullListing:
        """The listing of full rows (in run id order; last field `updated_at`), encoded one segment
        at a time: much faster than run by run, which is what start-up waits for."""
        entries: list[tuple[int, str, bytes | None]] = []
        segments: list[bytes] = []
        pending: list[Sequence[Any]] = []
        for row in rows:
            entries.append((row[0], row[-1], None))
            pending.append(row)
            if len(pending) == SEGMENT_RUNS:
                segments.append(encode_segment(pending))
                pending = []
        if pending:
            segments.append(encode_segment(pending))
        return cls(experiment_id, revision, entries, checked_at, segments)

    def stale(self, versions: Iterable[Sequence[Any]]) -> list[int] | None:
        """The run ids among (run_id, updated_at) `versions` (in run id order) whose encoding is
        missing or old, with the runs not encoded on their own yet of the segments those touch;
        None when the listing must be rebuilt (a new run id below the last)."""
        last = self.ids[-1] if self.ids else -1
        found: list[int] = []
        touched: set[int] = set()
        added = 0
        for run_id, stamp in versions:
            position = self.index.get(run_id)
            if position is None:
                if run_id < last:
                    return None  # a run committed out of id order: the order must be rebuilt
                found.append(run_id)
                touched.add((len(self.ids) + added) // SEGMENT_RUNS)
                added += 1
            elif self.stamps[position] != stamp:
                found.append(run_id)
                touched.add(position // SEGMENT_RUNS)
        wanted = set(found)
        for segment in touched:
            start = segment * SEGMENT_RUNS
            for position in range(start, min(start + SEGMENT_RUNS, len(self.ids))):
                if self.parts[position] is None and self.ids[position] not in wanted:
                    found.append(self.ids[position])
        return found

    def splice(self, rows: Iterable[Sequence[Any]], encode: Callable[[Sequence[Any]], bytes]) -> bool:
        """Put in the full rows of the stale runs (their last field: `updated_at`), new ones last;
        False when a touched segment still lacks a run's encoding (a run gone meanwhile: rebuild)."""
        for row in sorted(rows, key=lambda found: found[0]):
            run_id, stamp = row[0], row[-1]
            position = self.index.get(run_id)
            if position is None:
                position = self.index[run_id] = len(self.ids)
                self.ids.append(run_id)
                self.stamps.append(stamp)
                self.parts.append(encode(row))
            else:
                self.stamps[position] = stamp
                self.parts[position] = encode(row)
            segment = position // SEGMENT_RUNS
            if segment == len(self._segments):
                self._segments.append(None)
            else:
                self._segments[segment] = None
            if self.newest is None or stamp > self.newest:
                self.newest = stamp
        return all(segment is not None or self._joinable(number)
                   for number, segment in enumerate(self._segments))

    def _joinable(self, number: int) -> bool:
        start = number * SEGMENT_RUNS
        return all(part is not None for part in self.parts[start:start + SEGMENT_RUNS])

    def body(self) -> tuple[bytes, ...]:
        """The JSON array as pieces to send one after the other (only touched segments are joined)."""
        pieces = [b"["]
        for number, segment in enumerate(self._segments):
            if segment is None:
                start = number * SEGMENT_RUNS
                joined = [part for part in self.parts[start:start + SEGMENT_RUNS] if part is not None]
                segment = self._segments[number] = b",".join(joined)
            if number:
                pieces.append(b",")
            pieces.append(segment)
        pieces.append(b"]")
        return tuple(pieces)
