"""The `/` filter: a status, some text, or `key op value` conditions joined by `and`.

    STOPPED                               runs with that status
    optimizer.learning_rate > 0.01        config key (dotted, or a unique last part of one)
    val_accuracy >= 0.8                   latest metric
    status = STOPPED, status:STOPPED      run field (id, name, status, source, parent, progress,
                                          epoch, chunk); key:value is key = value
    run_3 and learning_rate <= 0.1        text anywhere in the name, status, source or config,
                                          and a condition
"""

from __future__ import annotations

import json
import operator
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from rfconsole.db.models import RUN_STATUSES, RunRead

Predicate = Callable[[RunRead], bool]

_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "=": operator.eq,
    "!=": operator.ne,
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
    "~": lambda have, want: str(want).lower() in str(have).lower(),
}
_CONDITION = re.compile(r"^\s*([A-Za-z_][\w.\-]*)\s*(==|!=|>=|<=|=|>|<|~)\s*([^=<>!~\s].*?)\s*$")
_KEY_VALUE = re.compile(r"^\s*([A-Za-z_][\w.\-]*):(\S+)\s*$")
_AND = re.compile(r"(?:^|\s+)and(?:\s+|$)|\s*,\s*", re.IGNORECASE)


class FilterError(ValueError):
    """A filter the console cannot read; the message is one sentence for the user."""


def run_field(run: RunRead, name: str) -> tuple[bool, Any]:
    """The value a filter key names for this run: a run field, a metric or a config key."""
    fields = {
        "id": run.run_id,
        "run_id": run.run_id,
        "name": run.run_name,
        "status": run.status,
        "source": run.source,
        "parent": run.parent_run_id,
        "progress": run.progress,
        "epoch": run.current_epoch,
        "chunk": run.current_chunk,
        "warm_start": run.warm_start,
    }
    if name in fields:
        return True, fields[name]
    if name in run.metrics:
        return True, run.metrics[name]
    config = run.flattened_config
    if name in config:
        return True, config[name]
    suffix = "." + name
    matches = [key for key in config if key.endswith(suffix)]
    if len(matches) == 1:
        return True, config[matches[0]]
    return False, None


def _coerce(text: str) -> Any:
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    try:
        return float(text)
    except ValueError:
        return text.strip("'\"")


def _compare(have: Any, op: str, want: Any) -> bool:
    if op == "~":
        return _OPERATORS[op](have, want)
    if isinstance(have, bool) or isinstance(want, bool) or have is None or want is None:
        if op in ("=", "=="):
            return bool(have == want)
        if op == "!=":
            return bool(have != want)
        return False
    if isinstance(have, (int, float)) and isinstance(want, (int, float)):
        return _OPERATORS[op](have, want)
    if isinstance(want, float) and want.is_integer():
        want = str(int(want))
    have_text, want_text = str(have).lower(), str(want).lower()
    return _OPERATORS[op](have_text, want_text)


def _condition(key: str, op: str, value: str) -> Predicate:
    want = _coerce(value)

    def matches(run: RunRead) -> bool:
        found, have = run_field(run, key)
        return found and _compare(have, op, want)

    return matches


def _text(word: str) -> Predicate:
    if word.upper() in RUN_STATUSES:
        status = word.upper()
        return lambda run: run.status == status
    needle = word.lower()

    def matches(run: RunRead) -> bool:
        haystack = f"{run.run_id} {run.run_name} {run.status} {run.source} " + json.dumps(
            run.config_leaf, sort_keys=True
        )
        return needle in haystack.lower()

    return matches


@dataclass(frozen=True)
class RunFilter:
    """A parsed filter; `text` is what the user typed."""

    text: str
    parts: tuple[Predicate, ...]
    keys: tuple[str, ...] = ()  # the keys its conditions name, e.g. ("lr",)

    def __call__(self, run: RunRead) -> bool:
        return all(part(run) for part in self.parts)


def parse_filter(text: str) -> RunFilter:
    """Parse the user's filter; raises FilterError with one sentence when it cannot."""
    text = text.strip()
    parts: list[Predicate] = []
    keys: list[str] = []
    if not text:
        return RunFilter("", ())
    for piece in _AND.split(text):
        if not piece.strip():
            raise FilterError(f"The filter {text!r} has an empty condition around 'and'.")
        condition = _CONDITION.match(piece)
        key_value = _KEY_VALUE.match(piece)
        if key_value:
            key, value = key_value.groups()
            _check_status(key, value)
            parts.append(_condition(key, "=", value))
            keys.append(key)
        elif condition:
            key, op, value = condition.groups()
            if op in ("=", "==", "!="):
                _check_status(key, value)
            parts.append(_condition(*condition.groups()))
            keys.append(condition.group(1))
        elif any(symbol in piece for symbol in "=<>~!"):
            raise FilterError(
                f"{piece.strip()!r} is not a condition; write it as key op value, "
                f"e.g. learning_rate > 0.01."
            )
        else:
            parts.append(_text(piece.strip()))
    return RunFilter(text, tuple(parts), tuple(keys))


def _check_status(key: str, value: str) -> None:
    if key == "status" and value.strip("'\"").upper() not in RUN_STATUSES:
        raise FilterError(f"{value!r} is not a run status; a run is one of "
                          f"{', '.join(RUN_STATUSES)}.")


def unknown_keys(run_filter: RunFilter, runs: Iterable[RunRead]) -> list[str]:
    """The keys of the filter's conditions that no run has (a typo, or a metric not seen yet)."""
    runs = list(runs)
    return [key for key in run_filter.keys if not any(run_field(run, key)[0] for run in runs)]
