"""The experiment log's sentences count like a person: "after 1 chunk", "1 run left"."""

from rfconsole.controller.events import plural


def test_counts_are_singular_for_one_and_plural_otherwise():
    assert plural(1, "chunk") == "1 chunk"
    assert plural(0, "run") == "0 runs"
    assert plural(2, "run") == "2 runs"
