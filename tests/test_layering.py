"""Layers run one way: db <- dispatcher, controller <- console; nothing runs at import.

The layering is declared as import-linter contracts in pyproject.toml ([tool.importlinter]) and
checked statically here, every import in every module; the runtime checks below back it up with
what really gets loaded, and check that importing starts no thread and writes no file.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_are_kept():
    lint_imports = Path(sys.executable).parent / "lint-imports"
    done = subprocess.run([str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


def _modules_after_import(module: str) -> set[str]:
    code = f"import json, sys, {module}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout))


def _loaded(modules: set[str], top: str) -> bool:
    return any(name == top or name.startswith(top + ".") for name in modules)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("module", "forbidden"),
    [
        ("rfconsole.db", ["flask", "textual", "waitress", "rfconsole.dispatcher",
                          "rfconsole.controller", "rfconsole.console"]),
        ("rfconsole.dispatcher", ["textual", "rfconsole.controller", "rfconsole.console"]),
        ("rfconsole.controller", ["flask", "textual", "waitress", "rfconsole.dispatcher",
                                  "rfconsole.console", "torch", "sklearn"]),
        ("rfconsole.controller.demo", ["torch", "sklearn"]),  # PyTorch only when its demo runs
    ],
)
def test_layers_import_only_downwards(module, forbidden):
    modules = _modules_after_import(module)
    loaded = [top for top in forbidden if _loaded(modules, top)]
    assert loaded == [], f"importing {module} loaded {loaded}"


@pytest.mark.slow
def test_importing_creates_no_thread_and_no_file(tmp_path):
    code = (
        "import threading, rfconsole.db, rfconsole.dispatcher, rfconsole.controller, "
        "rfconsole.console.cli; print(threading.active_count())"
    )
    env = {"HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "data"), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env=env, cwd=tmp_path)
    assert out.stdout.strip() == "1"
    assert not (tmp_path / "data").exists()
