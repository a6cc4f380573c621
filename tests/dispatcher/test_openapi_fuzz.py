"""The OpenAPI document is valid and the server keeps to it: property-based requests from
schemathesis, valid and invalid, against every operation (in-process, WSGI).

Bounded and deterministic: a fixed number of examples per operation, derandomized,
no example database.
"""

from __future__ import annotations

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from .conftest import Seeded

pytestmark = pytest.mark.slow  # property-based requests: hundreds of examples

POSITIVE_EXAMPLES = 30
NEGATIVE_EXAMPLES = 15
# Operations with no input that can be invalid: nothing to send, or only a path segment
# (an invalid one, an empty name, routes elsewhere).
NO_INVALID_INPUT = {
    "GET /dispatcher/health-check",
    "GET /dispatcher/get-server-info",
    "GET /dispatcher/get-all-experiment-names",
    "GET /dispatcher/get-running-experiment",
    "GET /dispatcher/all-operations",
    "GET /dispatcher/get-experiment-by-name/{name}",
}


def _schema(app: Flask):
    schema = schemathesis.openapi.from_wsgi("/dispatcher/openapi.json", app)
    # Text holding NUL is refused (400) anywhere, as the document says in words: PostgreSQL
    # cannot store it, and OpenAPI 3.0 cannot forbid it in object keys.
    schema.config.generation.update(allow_x00=False)
    return schema


def test_openapi_document_is_valid(app: Flask) -> None:
    schema = _schema(app)
    schema.validate()
    routes = {rule.rule for rule in app.url_map.iter_rules() if rule.rule.startswith("/dispatcher")}
    documented = {path.replace("{name}", "<path:name>") for path in schema.raw_schema["paths"]}
    assert documented == routes


def test_server_conforms_to_openapi(app: Flask, seeded: Seeded) -> None:
    schema = _schema(app)
    failures: list[str] = []
    without_negatives: set[str] = set()
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode, examples in ((GenerationMode.POSITIVE, POSITIVE_EXAMPLES),
                               (GenerationMode.NEGATIVE, NEGATIVE_EXAMPLES)):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=examples, derandomize=True, database=None, deadline=None,
                      phases=[Phase.explicit, Phase.generate],
                      suppress_health_check=list(HealthCheck))
            def check(case) -> None:
                case.call_and_validate()

            try:
                check()
            except Unsatisfiable:
                if mode is GenerationMode.POSITIVE:
                    failures.append(f"{operation.label}: no valid request could be generated")
                without_negatives.add(operation.label)
            except Exception as exc:  # collect every operation's failure, then report them all
                failures.append(f"{operation.label} ({mode.value}): {exc}")
    assert failures == [], "\n\n".join(failures)
    assert without_negatives <= NO_INVALID_INPUT
