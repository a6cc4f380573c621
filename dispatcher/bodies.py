"""Request bodies and query parameters, checked by typed models.

Bodies are parsed as JSON whatever their Content-Type (RapidFire's frontend and
curl users do not always set it), except on the op routes, which refuse any
other Content-Type than JSON before reading the body (routes_ops.py). A body that is not a JSON object, a missing
key or a value of the wrong type is refused with a 400 sentence naming the
field. Whole numbers are strict: "abc", true, 1.5 and negatives are refused.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, TypeVar

import orjson
from flask import request
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationError
from rfconsole.db.models import MAX_ID

from .errors import ApiError

# Larger numbers than the database's largest id (2**63 - 1) are refused.
WholeNumber = Annotated[StrictInt, Field(ge=0, le=MAX_ID)]

# What each field must be, as the error sentence says it.
FIELD_RULES = {
    "run_id": "a whole number of 0 or more",
    "warm_start": "true or false",
    "config": "a JSON object",
    "config_leaf": "a JSON object",
    "config_patch": "a JSON object",
    "experiment_name": "a string",
    "limit": "a whole number of 0 or more",
    "offset": "a whole number of 0 or more",
    "max_points": "a whole number of at least 2",
}


class _Body(BaseModel):
    # Unknown keys are ignored: RapidFire's frontend sends a few we do not need.
    model_config = ConfigDict(extra="ignore", frozen=True)


class RunIdBody(_Body):
    run_id: WholeNumber


class CloneBody(_Body):
    """`config` (RapidFire's name) or `config_leaf` (the seed's) is the clone's whole config;
    `config_patch` is an RFC 7396 merge patch on the parent's. Exactly one comes (null is absent)."""

    run_id: WholeNumber
    config_leaf: dict[str, Any] | None = None
    config: dict[str, Any] | None = None
    config_patch: dict[str, Any] | None = None
    warm_start: StrictBool = False

    def clone_config(self) -> dict[str, dict[str, Any]]:
        """`{"config": ...}` or `{"config_patch": ...}` for the data layer; ApiError unless
        exactly one of the three fields was sent."""
        sent = {name: value for name, value in (("config", self.config),
                                                ("config_leaf", self.config_leaf),
                                                ("config_patch", self.config_patch))
                if value is not None}
        if len(sent) != 1:
            names = " and ".join(sent) if sent else "none of them"
            raise ApiError(400, f"Send exactly one of config (the clone's whole config), config_leaf "
                                f"(the same) and config_patch (a JSON merge patch on the parent's "
                                f"config); this request sent {names}.")
        name, value = next(iter(sent.items()))
        return {"config_patch": value} if name == "config_patch" else {"config": value}


class LogsBody(_Body):
    experiment_name: StrictStr | None = None
    limit: WholeNumber | None = None


class ExperimentNameBody(_Body):
    experiment_name: StrictStr


Model = TypeVar("Model", bound=_Body)


def _field_sentence(errors: list[Any]) -> str:
    first = errors[0]
    field = str(first["loc"][0]) if first["loc"] else "the body"
    rule = FIELD_RULES.get(field, "valid")
    if first["type"] == "missing":
        return f"The request body needs {field} ({rule})."
    shown = orjson.dumps(first.get("input")).decode()[:60] if "input" in first else ""
    got = f", not {shown}" if shown else ""
    if first["type"] == "less_than_equal":  # a whole number, only past what a database holds
        return f"{field} must be at most {MAX_ID}{got}."
    return f"{field} must be {rule}{got}."


def json_body(optional: bool = False) -> dict[str, Any]:
    """The body as a JSON object; with `optional`, an empty body counts as {}."""
    raw = _small_body()
    if raw is None:
        raw = request.get_data(cache=False)
    if optional and not raw:
        return {}
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ApiError(400, "The request body is not valid JSON; send a JSON object.") from None
    if not isinstance(data, dict):
        raise ApiError(400, "The request body must be a JSON object.")
    return data


def _small_body() -> bytes | None:
    """A body of a stated length within the app's limit, read straight from the server's input
    (what Werkzeug's stream would do, at a fraction of its cost for a 15-byte body); None to
    let Werkzeug read it (no length given, chunked, or past the limit: its 413)."""
    environ = request.environ
    length = environ.get("CONTENT_LENGTH")
    if not length or not length.isdigit() or len(length) > 7:
        return None
    size = int(length)
    limit = request.max_content_length
    if limit is not None and size > limit:
        return None
    data: bytes = environ["wsgi.input"].read(size)
    return data


def parse_body(model: type[Model], optional: bool = False) -> Model:
    data = json_body(optional)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ApiError(400, _field_sentence(exc.errors())) from None


_DIGITS = re.compile(r"[0-9]+")


def query_int(name: str, *, low: int = 0, default: int | None = None) -> int | None:
    """A whole-number query parameter (absent: `default`)."""
    text = request.args.get(name)
    if text is None:
        return default
    value = None
    if _DIGITS.fullmatch(text):
        # Lengths first: int() of a very long digit string is slow (and refused).
        if len(text.lstrip("0")) > len(str(MAX_ID)) or int(text) > MAX_ID:
            raise ApiError(400, f"Query parameter {name} must be at most {MAX_ID}, not {text[:40]!r}.")
        value = int(text)
    if value is None or value < low:
        rule = FIELD_RULES.get(name, f"a whole number of {low} or more")
        raise ApiError(400, f"Query parameter {name} must be {rule}, not {text[:40]!r}.")
    return value
