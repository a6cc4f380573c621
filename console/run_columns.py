"""What the runs table's columns hold: which metrics and config keys get a column, the
cells of the fixed columns, and the table's figures for the status line."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from rfconsole.db.models import RunRead

from .cells import SortableCell, fraction_cell, progress_cell, status_cell, value_cell

MAX_METRIC_COLUMNS = 3
METRIC_ORDER = ("val_loss", "val_accuracy", "train_loss", "train_accuracy", "loss", "accuracy")


def metric_columns(names: Iterable[str]) -> list[str]:
    """The metric names worth a column: the usual ones first, at most a few."""
    names = set(names)
    ordered = [n for n in METRIC_ORDER if n in names] + sorted(names - set(METRIC_ORDER))
    return ordered[:MAX_METRIC_COLUMNS]


RUN_CELLS: dict[str, Callable[[RunRead], SortableCell]] = {
    "name": lambda run: SortableCell(run.run_name, run.run_name),
    "status": lambda run: status_cell(run.status),
    "progress": lambda run: progress_cell(run.progress),
    "epoch": lambda run: fraction_cell(run.current_epoch, run.num_epochs),
    "chunk": lambda run: fraction_cell(run.current_chunk, run.num_chunks),
    "source": lambda run: SortableCell(run.source, run.source),
    "parent": lambda run: value_cell(run.parent_run_id),
}


@dataclass(frozen=True)
class TableSummary:
    """The table's figures for the status line."""

    counts: tuple[tuple[str, int], ...] = ()  # runs per status
    total: int = 0
    shown: int = 0  # rows the filter lets through
    marked: int = 0
    filter_text: str = ""
    column_window: str = ""  # e.g. "columns 3–6 of 12 (← →)", "" when all fit


def fraction_text(done_and_total: tuple[int, int]) -> str:
    return f"{done_and_total[0]}/{done_and_total[1]}"


def differing_config_keys(runs: Iterable[RunRead]) -> list[str]:
    """Dotted config keys whose values are not the same in every run."""
    seen: dict[str, Any] = {}
    differing: set[str] = set()
    count = 0
    for run in runs:
        config = run.flattened_config
        if count:
            differing.update(key for key in seen if key not in config)
        for key, value in config.items():
            if key not in seen:
                seen[key] = value
                if count:
                    differing.add(key)
            elif key not in differing and seen[key] != value:
                differing.add(key)
        count += 1
    return sorted(differing)
