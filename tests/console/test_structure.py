"""The console speaks no SQL and uses no private Textual API."""

from __future__ import annotations

import ast
import functools
import importlib
import inspect
import re
from pathlib import Path

import pytest

CONSOLE = Path(__file__).resolve().parents[2] / "console"
MODULES = sorted(path for path in CONSOLE.glob("*.py") if path.name != "__main__.py")


def imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", MODULES, ids=lambda path: path.name)
def test_no_sql_and_no_private_textual_import(path: Path) -> None:
    for name in imported(path):
        assert name.split(".")[0] not in ("sqlalchemy", "sqlmodel", "sqlite3"), name
        assert not any(part.startswith("_") for part in name.split(".")[1:]
                       if name.startswith("textual")), name


@functools.cache
def _source(cls: type) -> str:
    # inspect.getsource parses the class's whole module: once per Textual class, not per use.
    return inspect.getsource(cls)


@pytest.mark.parametrize("path", MODULES, ids=lambda path: path.name)
def test_no_private_framework_name_is_overridden_or_touched(path: Path) -> None:
    """No `_name` of a Textual base class is defined, assigned or read by a console class."""
    module = importlib.import_module(f"rfconsole.console.{path.stem}")
    tree = ast.parse(path.read_text())
    for node in (n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)):
        cls = getattr(module, node.name, None)
        if not isinstance(cls, type):
            continue
        framework = [base for base in cls.__mro__[1:] if base.__module__.startswith("textual")]
        sources = "\n".join(_source(base) for base in framework[:6])
        used = {n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute)
                and isinstance(n.value, ast.Name) and n.value.id == "self"}
        used |= {n.name for n in node.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
        for name in sorted(used):
            if name.startswith("_") and not name.startswith("__"):
                private = re.search(rf"self\.{name}\b|def {name}\(", sources)
                assert not private, f"{path.name}: {node.name} touches Textual's {name}"
