"""Which trainer `rfconsole demo` runs: the numpy MLPs (the default) or the PyTorch ones.

The PyTorch demo needs the optional extra (`pip install 'rfconsole[torch]'`);
nothing here imports torch until that demo is chosen. An experiment resumed by
name keeps the trainer it was started with: its stored config schema says which.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Mapping
from typing import Any

from .trainer import Trainer

TRAINERS = ("numpy", "torch")
TORCH_SCHEMA_TITLE = "Demo PyTorch MLP config"  # the title of the torch demo's config schema


class TrainerUnavailable(RuntimeError):
    """The chosen demo trainer cannot run here; the message is one sentence for the user."""


def missing_torch_packages() -> list[str]:
    return [name for name in ("torch", "sklearn") if importlib.util.find_spec(name) is None]


def demo_trainer(kind: str) -> tuple[Trainer, Callable[[int], list[dict[str, Any]]]]:
    """The demo trainer of that kind and its function of `count` configs."""
    if kind == "numpy":
        from .numpy_demo import DemoTrainer, demo_configs

        return DemoTrainer(), demo_configs
    if kind == "torch":
        missing = missing_torch_packages()
        if missing:
            raise TrainerUnavailable(
                f"The PyTorch demo needs {' and '.join(missing)}: pip install 'rfconsole[torch]'.")
        from .torch.demo import TorchDemoTrainer, torch_demo_configs

        return TorchDemoTrainer(), torch_demo_configs
    raise TrainerUnavailable(f"There is no demo trainer {kind!r}; choose one of {', '.join(TRAINERS)}.")


def trainer_of(config_schema: Mapping[str, Any] | None) -> str:
    """The demo trainer an experiment was started with, from its stored config schema."""
    title = (config_schema or {}).get("title")
    return "torch" if title == TORCH_SCHEMA_TITLE else "numpy"
