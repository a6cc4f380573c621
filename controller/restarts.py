"""A chunk whose worker was lost (its Ray actor or node died): restart the run, or fail it.

The chunk is thrown away like an interrupted one and the run trains it again
from its last committed checkpoint, in a new worker wherever the executor
places it, up to `max_restarts` times; after that the run is FAILED with the
reason. Threads never lose a worker, so with them nothing here ever happens.
"""

from __future__ import annotations

from . import events
from .chunks import ChunkOutcome
from .live import LiveRun


def restart_or_fail(outcome: ChunkOutcome, live: LiveRun | None, max_restarts: int,
                    reporter: events.EventReporter) -> ChunkOutcome:
    """The outcome as the runner should record it: interrupted (to train again) or an error."""
    if outcome.lost is None or live is None:
        return outcome
    live.model = None
    if live.restarts >= max_restarts:
        outcome.interrupted = False
        outcome.error = f"{outcome.lost}; gave up after {events.plural(live.restarts, 'restart')}"
        return outcome
    live.restarts += 1
    reporter.emit(events.RUN_RESTARTED,
                  f"Run {outcome.run_id} restarts from its last checkpoint (chunk {live.position + 1}), "
                  f"attempt {live.restarts} of {max_restarts}: {outcome.lost}.", run_id=outcome.run_id)
    return outcome
