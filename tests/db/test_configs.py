"""RFC 7396 merge patch, flattening and schema messages."""

from __future__ import annotations

import pytest
from rfconsole.db import InvalidError
from rfconsole.db.configs import check_schema, flatten, merge_patch, validate_config

# The examples of RFC 7396, appendix A.
RFC_EXAMPLES = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"a": "foo"}, "bar", "bar"),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


@pytest.mark.parametrize(("target", "patch", "expected"), RFC_EXAMPLES)
def test_rfc7396_examples(target, patch, expected):
    assert merge_patch(target, patch) == expected


def test_nested_merge_keeps_siblings_and_does_not_touch_inputs():
    target = {"optimizer": {"lr": 0.1, "momentum": 0.9}, "width": 8}
    patch = {"optimizer": {"lr": 0.01, "momentum": None}}
    merged = merge_patch(target, patch)
    assert merged == {"optimizer": {"lr": 0.01}, "width": 8}
    assert target == {"optimizer": {"lr": 0.1, "momentum": 0.9}, "width": 8}
    merged["optimizer"]["lr"] = 5
    assert patch["optimizer"]["lr"] == 0.01


def test_flatten_uses_dotted_keys_and_keeps_lists():
    assert flatten({"a": {"b": {"c": 1}}, "d": [1, 2], "e": {}}) == {
        "a.b.c": 1,
        "d": [1, 2],
        "e": {},
    }


SCHEMA = {
    "type": "object",
    "properties": {
        "lr": {"type": "number"},
        "layers": {"type": "array", "items": {"type": "integer"}},
        "optimizer": {
            "type": "object",
            "properties": {"name": {"enum": ["sgd", "adam"]}},
            "additionalProperties": False,
        },
    },
}


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"lr": "fast"}, "The config is invalid at lr: 'fast' is not of type 'number'."),
        ({"layers": [1, "x"]}, "The config is invalid at layers[1]: 'x' is not of type 'integer'."),
        (
            {"optimizer": {"name": "rmsprop"}},
            "The config is invalid at optimizer.name: 'rmsprop' is not one of ['sgd', 'adam'].",
        ),
        (
            {"optimizer": {"beta": 1}},
            "The config is invalid at optimizer: Additional properties are not allowed "
            "('beta' was unexpected).",
        ),
    ],
)
def test_schema_errors_name_the_offending_key(config, message):
    with pytest.raises(InvalidError) as refused:
        validate_config(config, SCHEMA)
    assert refused.value.message == message


def test_valid_config_and_no_schema_pass():
    validate_config({"lr": 0.1, "optimizer": {"name": "sgd"}}, SCHEMA)
    validate_config({"anything": [1]}, None)
    with pytest.raises(InvalidError, match="must be a JSON object"):
        validate_config([1], None)


def test_a_broken_schema_is_refused():
    with pytest.raises(InvalidError, match="not a valid JSON Schema"):
        check_schema({"type": "no-such-type"})
