"""Configs declared as dataclasses: their JSON Schema and parsing."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Optional

import pytest
from jsonschema import Draft202012Validator
from rfconsole.controller.dataclass_config import parse_config, schema_for


@dataclass
class Inner:
    learning_rate: float = field(default=0.1, metadata={"schema": {"exclusiveMinimum": 0}})
    kind: Literal["sgd", "adam"] = "sgd"


@dataclass
class Outer:
    width: int
    inner: Inner = field(default_factory=Inner)
    dropout: Optional[float] = None  # noqa: UP045 (the typing spelling is supported too)
    tags: list[str] = field(default_factory=list)
    verbose: bool = False
    name: str | None = None


def test_the_schema_follows_the_fields():
    schema = schema_for(Outer, title="Runs")
    Draft202012Validator.check_schema(schema)
    assert schema["title"] == "Runs"
    assert schema["required"] == ["width"]
    assert schema["additionalProperties"] is False
    props = schema["properties"]
    assert props["width"] == {"type": "integer"}
    assert props["inner"]["properties"]["learning_rate"] == {
        "type": "number", "default": 0.1, "exclusiveMinimum": 0}
    assert props["inner"]["properties"]["kind"] == {"enum": ["sgd", "adam"], "default": "sgd"}
    assert props["dropout"] == {"anyOf": [{"type": "number"}, {"type": "null"}], "default": None}
    assert props["tags"] == {"type": "array", "items": {"type": "string"}}
    assert props["verbose"] == {"type": "boolean", "default": False}
    validator = Draft202012Validator(schema)
    assert validator.is_valid({"width": 3, "inner": {"learning_rate": 0.5}})
    assert not validator.is_valid({"width": 3, "inner": {"learning_rate": 0}})
    assert not validator.is_valid({"width": 3, "height": 1})


def test_parsing_builds_nested_dataclasses_with_defaults():
    parsed = parse_config(Outer, {"width": 4, "inner": {"learning_rate": 1}})
    assert parsed == Outer(width=4, inner=Inner(learning_rate=1.0))
    assert isinstance(parsed.inner.learning_rate, float)


@pytest.mark.parametrize(("config", "message"), [
    ({"width": 4, "heigth": 2}, "unknown config key 'heigth'"),
    ({"width": 4, "inner": {"lr": 2}}, "unknown config key 'inner.lr'"),
    ({}, "the config is incomplete"),
    ({"width": 4, "inner": 3}, "'inner' must be an object, not int"),
])
def test_bad_configs_are_one_sentence(config, message):
    with pytest.raises(ValueError, match=message.replace(".", r"\.")):
        parse_config(Outer, config)
