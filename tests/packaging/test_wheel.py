"""Build the wheel, check what it holds, install it in a throwaway venv and run it from there."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SUBPACKAGES = ["db", "dispatcher", "controller", "console"]

pytestmark = pytest.mark.slow  # builds a wheel and installs its dependencies in a new venv


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with the wheel and its dependencies installed."""
    env_dir = tmp_path_factory.mktemp("venv")
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", str(wheel)],
                   check=True, capture_output=True, text=True, timeout=900)
    return env_dir


def test_wheel_holds_every_subpackage_and_data_file(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for package in SUBPACKAGES:
        source = ROOT / package
        for path in source.rglob("*"):
            if "__pycache__" in path.parts or path.is_dir():
                continue
            if path.suffix in {".py", ".tcss", ".json", ".js", ".css", ".html", ".svg"} or path.name == "py.typed":
                assert f"rfconsole/{path.relative_to(ROOT)}" in names, f"{path} is missing from the wheel"
    assert any(name.endswith(".tcss") for name in names), "the console styles are missing"
    for package in SUBPACKAGES:  # PEP 561: users' code is type-checked against ours
        assert f"rfconsole/{package}/py.typed" in names, f"{package} ships no py.typed"
    tops = {name.split("/")[0] for name in names}
    assert not tops & set(SUBPACKAGES), "a generic top-level package would land in site-packages"
    assert "rfconsole/__init__.py" not in names  # rfconsole stays a namespace package


def test_installed_wheel_runs(installed, tmp_path):
    done = subprocess.run([str(installed / "bin" / "rfconsole"), "--version"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("rfconsole ")


def test_installed_wheel_starts_the_console_headless(installed, tmp_path):
    script = textwrap.dedent(
        f"""
        import asyncio, rfconsole.console.app as app_module
        from rfconsole.db import Store
        assert "{ROOT}" not in app_module.__file__, app_module.__file__
        store = Store.open({str(tmp_path / "p.db")!r})

        async def main():
            app = app_module.make_app(store)
            async with app.run_test(size=(80, 24)) as pilot:
                await pilot.pause()
                print("painted", type(app.screen).__name__)

        asyncio.run(main())
        """
    )
    done = subprocess.run([str(installed / "bin" / "python"), "-c", script], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "painted" in done.stdout


def test_a_trainer_is_type_checked_against_the_installed_wheel(installed, tmp_path):
    """py.typed: mypy, pointed at an environment with the wheel, checks user code against our API."""
    trainer = tmp_path / "my_trainer.py"
    trainer.write_text(textwrap.dedent(
        """
        from typing import Any

        from rfconsole.controller import ChunkContext, Controller
        from rfconsole.db import Store


        class BadTrainer:
            def create_model(self, config: Any) -> Any: ...
            def train_chunk(self, model: Any, context: ChunkContext) -> str: return "no metrics"
            def get_state(self, model: Any) -> Any: ...
            def set_state(self, model: Any, state: Any) -> None: ...


        reveal_type(Store.open)
        Controller(Store.open("x.db"), "sweep", [{}], BadTrainer(), num_chunks="3")
        """
    ))
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--python-executable", str(installed / "bin" / "python"),
         "--no-incremental", "--strict", "--config-file", "/dev/null", str(trainer)],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    out = done.stdout + done.stderr
    assert "rfconsole.db.store.Store" in out, out  # the installed package's types, not Any
    # train_chunk returns the wrong type, so BadTrainer is no Trainer
    assert 'Argument 4 to "Controller" has incompatible type "BadTrainer"; expected "Trainer"' in out, out
    assert 'Argument "num_chunks" to "Controller" has incompatible type "str"; expected "int"' in out, out
