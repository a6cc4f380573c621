"""Run configs: RFC 7396 JSON Merge Patch, dotted flattening and JSON Schema checks."""

from __future__ import annotations

import copy
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from .errors import InvalidError

# Deeper configs are refused: the recursive code that merges, flattens, checks
# and shows them (here, in the dispatcher and in the console) would exceed
# Python's recursion limit. Real configs nest a handful of levels.
MAX_CONFIG_DEPTH = 64


def merge_patch(target: Any, patch: Any) -> Any:
    """Apply `patch` to `target` as RFC 7396 says; neither argument is modified.

    An object patch merges key by key (recursively); a null value deletes the
    key; any other patch (a list, a number, a string) replaces the target whole.
    """
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def check_depth(value: Any, what: str = "The config") -> None:
    """Raise InvalidError when `value` nests objects or lists more than MAX_CONFIG_DEPTH deep,
    or holds a NUL character in a key or a string (PostgreSQL cannot store one in text, and
    both backends refuse alike)."""
    if isinstance(value, str):
        _refuse_nul(value, what)
    level = [value] if isinstance(value, (dict, list)) else []
    depth = 0
    while level:
        depth += 1
        if depth > MAX_CONFIG_DEPTH:
            raise InvalidError(
                f"{what} nests more than {MAX_CONFIG_DEPTH} levels deep; send a flatter JSON object."
            )
        children: list[Any] = []
        for item in level:
            if isinstance(item, dict):
                for key, child in item.items():
                    _refuse_nul(key, what)
                    children.append(child)
            else:
                children.extend(item)
        for child in children:
            if isinstance(child, str):
                _refuse_nul(child, what)
        level = [child for child in children if isinstance(child, (dict, list))]


def _refuse_nul(text: Any, what: str) -> None:
    if isinstance(text, str) and "\x00" in text:
        raise InvalidError(f"{what} holds a NUL character (\\x00), which cannot be stored; remove it.")


def flatten(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """`{"optimizer": {"lr": 0.1}}` -> `{"optimizer.lr": 0.1}`; lists stay whole."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, dotted + "."))
        else:
            flat[dotted] = value
    return flat


def check_schema(schema: dict[str, Any]) -> None:
    """Refuse a config JSON Schema that is not itself a valid schema."""
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise InvalidError(f"The config schema is not a valid JSON Schema: {exc.message}.") from exc


def validate_config(config: Any, schema: dict[str, Any] | None) -> None:
    """Raise InvalidError naming the offending key's path when `config` breaks `schema`."""
    if not isinstance(config, dict):
        raise InvalidError("A run config must be a JSON object.")
    if not schema:
        return
    validator = Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if not errors:
        return
    first = errors[0]
    path = config_path(first.absolute_path)
    raise InvalidError(f"The config is invalid at {path}: {first.message}.")


def config_path(parts: Any) -> str:
    """`["optimizer", "lr"]` -> `optimizer.lr`; `[]` -> `the top level`; list indexes in []."""
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "the top level"
