"""The op verbs and the experiment log's component names are spelled in one place each (db/)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("db", "dispatcher", "controller", "console")


def _sources() -> dict[str, str]:
    return {str(path.relative_to(ROOT)): path.read_text() for package in PACKAGES
            for path in (ROOT / package).rglob("*.py")}


def test_op_verbs_are_named_once():
    holders = [name for name, text in _sources().items() if '"clone-modify"' in text]
    assert holders == ["db/models.py"]


def test_log_components_are_named_once():
    for component in ('"interactive-control"', '"dispatcher", "INFO"', '"console", "INFO"'):
        holders = [name for name, text in _sources().items() if component in text]
        assert holders in ([], ["db/experiment_log.py"]), (component, holders)
    holders = [name for name, text in _sources().items() if '"interactive-control"' in text]
    assert holders == ["db/experiment_log.py"]
