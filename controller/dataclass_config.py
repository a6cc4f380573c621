"""Configs declared as dataclasses: the JSON Schema the controller checks clones against, and parsing.

    @dataclass
    class OptimizerConfig:
        learning_rate: float = field(default=0.01, metadata={"schema": {"exclusiveMinimum": 0}})

    @dataclass
    class RunConfig:
        optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
        batch_size: int = 32
        seed: int = 0

`schema_for(RunConfig)` is a JSON Schema object (fields without a default are
required, unknown keys are refused, `metadata["schema"]` adds keywords such as
bounds) and `parse_config(RunConfig, {"optimizer": {"learning_rate": 0.1}})`
builds the nested dataclasses, filling in the defaults.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

T = TypeVar("T")

_SIMPLE = {bool: "boolean", int: "integer", float: "number", str: "string"}


def schema_for(cls: type, title: str | None = None) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of configs that `parse_config(cls, ...)` accepts."""
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema",
              "title": title or cls.__name__}
    schema.update(_object_schema(cls))
    return schema


def parse_config(cls: type[T], config: Mapping[str, Any]) -> T:
    """An instance of the dataclass `cls` from a config mapping; a ValueError names a bad key."""
    return typing.cast(T, _parse(cls, config, ""))


def _object_schema(cls: type) -> dict[str, Any]:
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    hints = typing.get_type_hints(cls)
    properties: dict[str, Any] = {}
    required: list[str] = []
    for item in dataclasses.fields(cls):
        if not item.init:
            continue
        prop = _type_schema(hints[item.name])
        if item.default is not dataclasses.MISSING and _is_json_value(item.default):
            prop["default"] = item.default
        prop.update(item.metadata.get("schema", {}))
        properties[item.name] = prop
        if item.default is dataclasses.MISSING and item.default_factory is dataclasses.MISSING:
            required.append(item.name)
    schema: dict[str, Any] = {"type": "object", "properties": properties,
                              "additionalProperties": False}
    if required:
        schema["required"] = required
    return schema


def _type_schema(kind: Any) -> dict[str, Any]:
    if kind in _SIMPLE:
        return {"type": _SIMPLE[kind]}
    if dataclasses.is_dataclass(kind) and isinstance(kind, type):
        return _object_schema(kind)
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin is typing.Literal:
        return {"enum": list(args)}
    if origin in (typing.Union, types.UnionType):
        options = [_type_schema(arg) for arg in args if arg is not type(None)]
        if type(None) in args:
            options.append({"type": "null"})
        return options[0] if len(options) == 1 else {"anyOf": options}
    if origin in (list, tuple) or kind in (list, tuple):
        item = args[0] if args and origin is list else None
        return {"type": "array", **({"items": _type_schema(item)} if item is not None else {})}
    if origin is dict or kind is dict:
        return {"type": "object"}
    if kind is Any:
        return {}
    raise TypeError(f"no JSON Schema for the config type {kind!r}")


def _is_json_value(value: Any) -> bool:
    return value is None or isinstance(value, (bool, int, float, str))


def _parse(cls: type, config: Any, path: str) -> Any:
    where = f"{path!r}" if path else "the config"
    if not isinstance(config, Mapping):
        raise ValueError(f"{where} must be an object, not {type(config).__name__}")
    hints = typing.get_type_hints(cls)
    names = {item.name for item in dataclasses.fields(cls) if item.init}
    unknown = sorted(set(config) - names)
    if unknown:
        raise ValueError(f"unknown config key {_join(path, unknown[0])!r}")
    values: dict[str, Any] = {}
    for name, value in config.items():
        kind = hints[name]
        if dataclasses.is_dataclass(kind) and isinstance(kind, type):
            value = _parse(kind, value, _join(path, name))
        elif kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        values[name] = value
    try:
        return cls(**values)
    except TypeError as exc:  # a required key is missing
        raise ValueError(f"{where} is incomplete ({exc})") from None


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else str(name)
