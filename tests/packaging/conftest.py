"""Shared by the packaging tests: one wheel built from this tree, and a clean environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out),
         str(ROOT)],
        check=True, capture_output=True, text=True, timeout=300,
    )
    (built,) = out.glob("rfconsole-*.whl")
    return built


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """What a fresh login would have: a HOME of its own, no RFCONSOLE_* and no PYTHONPATH."""
    home.mkdir(parents=True, exist_ok=True)
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
    # pip needs to know where the package index is (the same as for this test run).
    env.update({k: v for k, v in os.environ.items() if k.startswith("PIP_") or k in ("SSL_CERT_FILE",)})
    env.update(extra)
    return env


def base_python() -> str:
    """This Python without the test venv around it: the interpreter a user would have."""
    version = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    for candidate in (Path(sys.base_prefix) / "bin" / version, Path(sys.base_prefix) / "bin" / "python3"):
        if candidate.exists():
            return str(candidate)
    return sys.executable
