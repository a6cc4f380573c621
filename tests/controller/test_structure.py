"""The controller's shape: the data layer owns the SQL, no import cycle, one rotation owner."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import rfconsole.controller as controller_package

FOLDER = Path(controller_package.__file__).parent


def _imports(path: Path) -> list[tuple[str, int]]:
    """(module, level) of every import in a file; level > 0 for relative imports."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(alias.name, 0) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.module or "", node.level))
    return found


def test_no_controller_module_speaks_sql():
    speaking = {path.name: name for path in FOLDER.glob("*.py") for name, level in _imports(path)
                if level == 0 and name.split(".")[0] in {"sqlalchemy", "sqlmodel", "sqlite3"}}
    assert speaking == {}


def test_the_controller_modules_import_each_other_without_a_cycle():
    graph = {path.stem: {name.split(".")[0] for name, level in _imports(path) if level == 1 and name}
             for path in FOLDER.glob("*.py") if path.stem != "__init__"}
    state: dict[str, str] = {}

    def visit(module: str, trail: list[str]) -> None:
        if state.get(module) == "done":
            return
        assert state.get(module) != "open", f"import cycle: {' -> '.join(trail + [module])}"
        state[module] = "open"
        for target in sorted(graph.get(module, ())):
            visit(target, trail + [module])
        state[module] = "done"

    for module in sorted(graph):
        visit(module, [])


def test_the_op_executor_works_on_the_rotation_not_on_the_controller():
    from rfconsole.controller.ops import OpExecutor

    parameters = list(inspect.signature(OpExecutor).parameters)
    assert parameters == ["context", "rotation"]
    source = inspect.getsource(OpExecutor)
    assert "self.ctl" not in source
