"""The PyTorch demo trainer behind `rfconsole demo --trainer torch`: small MLPs on 8x8 digits.

The data set is scikit-learn's handwritten digits (1,797 images of 8x8 pixels,
ten classes), which ships inside the scikit-learn package: nothing is
downloaded. A seeded fifth is held out for validation. Every run trains a
one-hidden-layer MLP (ReLU, dropout) with SGD and momentum; configs differ in
learning rate, hidden width and batch size, in the same shape as the numpy
demo's. Each chunk reports train_loss, val_loss and val_accuracy; a warm clone
goes on from its parent's weights, optimizer state and data order.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import torch
from rfconsole.controller.demo_trainers import TORCH_SCHEMA_TITLE
from rfconsole.controller.numpy_demo import sweep_configs
from torch import nn
from torch.utils.data import TensorDataset

from .adapter import TorchRun, TorchTrainer

DATA_SEED = 20240611
VALIDATION_FRACTION = 0.2
NUM_CLASSES = 10


@dataclass
class OptimizerConfig:
    learning_rate: float = field(default=0.1, metadata={"schema": {"exclusiveMinimum": 0, "maximum": 10}})
    momentum: float = field(default=0.9, metadata={"schema": {"minimum": 0, "maximum": 0.999}})


@dataclass
class ModelConfig:
    hidden_width: int = field(default=64, metadata={"schema": {"minimum": 1, "maximum": 1024}})


@dataclass
class DemoConfig:
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    batch_size: int = field(default=32, metadata={"schema": {"minimum": 1, "maximum": 4096}})
    seed: int = field(default=0, metadata={"schema": {"minimum": 0}})


def torch_demo_configs(count: int) -> list[dict[str, Any]]:
    """`count` configs that differ in learning rate, width and batch size (smaller batches)."""
    return sweep_configs(count, batch_sizes=(32, 16, 64))


def load_digits_split(seed: int = DATA_SEED) -> tuple[TensorDataset, TensorDataset]:
    """The digits as (train, validation) datasets of (pixels in [0, 1], label)."""
    from sklearn.datasets import load_digits  # ships its data; imported only when the demo runs

    digits = load_digits()
    images = torch.tensor(digits.data, dtype=torch.float32) / 16.0
    labels = torch.tensor(digits.target, dtype=torch.long)
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    held_out = int(len(labels) * VALIDATION_FRACTION)
    val, train = order[:held_out], order[held_out:]
    return TensorDataset(images[train], labels[train]), TensorDataset(images[val], labels[val])


class TorchDemoTrainer(TorchTrainer):
    """Small MLPs on the digits; the data set is loaded once, by the first run that needs it."""

    config_class = DemoConfig

    def __init__(self, data_seed: int = DATA_SEED) -> None:
        super().__init__()
        self.config_schema = {**(self.config_schema or {}), "title": TORCH_SCHEMA_TITLE}
        self._data_seed = data_seed
        self._data: tuple[TensorDataset, TensorDataset] | None = None
        self._lock = threading.Lock()

    def parse_config(self, config: Any) -> DemoConfig:
        try:
            parsed: DemoConfig = super().parse_config(config)
        except ValueError as exc:
            raise ValueError(f"the demo cannot build a model from this config ({exc})") from None
        if parsed.optimizer.learning_rate <= 0 or parsed.model.hidden_width < 1 or parsed.batch_size < 1:
            raise ValueError("the demo cannot build a model from this config (hidden_width, "
                             "batch_size and learning_rate must be positive)")
        return parsed

    def datasets(self) -> tuple[TensorDataset, TensorDataset]:
        with self._lock:
            if self._data is None:
                self._data = load_digits_split(self._data_seed)
            return self._data

    def train_dataset(self) -> TensorDataset:
        return self.datasets()[0]

    def build_model(self, config: DemoConfig) -> nn.Module:
        width = config.model.hidden_width
        return nn.Sequential(nn.Linear(64, width), nn.ReLU(), nn.Dropout(0.1),
                             nn.Linear(width, NUM_CLASSES))

    def build_optimizer(self, config: DemoConfig, module: nn.Module) -> torch.optim.Optimizer:
        return torch.optim.SGD(module.parameters(), lr=config.optimizer.learning_rate,
                               momentum=config.optimizer.momentum)

    def training_step(self, run: TorchRun, batch: Any) -> torch.Tensor:
        inputs, targets = batch
        return nn.functional.cross_entropy(run.module(inputs), targets)

    def evaluate(self, run: TorchRun) -> dict[str, float]:
        images, labels = self.datasets()[1].tensors
        logits = run.module(images.to(run.device))
        labels = labels.to(run.device)
        return {"val_loss": float(nn.functional.cross_entropy(logits, labels)),
                "val_accuracy": float((logits.argmax(dim=1) == labels).float().mean())}
