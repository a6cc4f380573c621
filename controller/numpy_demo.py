"""The numpy demo trainer: small numpy MLPs that really learn a generated classification task.

Every run trains a one-hidden-layer MLP (tanh, softmax) with SGD and momentum
on the same seeded data set: four classes, each a mixture of Gaussian blobs in
ten dimensions, with a held-out validation split. Configs differ in learning
rate, hidden width and batch size; each chunk reports train_loss, val_loss and
val_accuracy. A warm-started clone takes its parent's weights (so its loss goes
on from the parent's), a cold one starts from fresh weights.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from .trainer import ChunkContext, ChunkResult

NUM_CLASSES = 4
NUM_FEATURES = 10
TRAIN_SIZE = 4800
VALIDATION_SIZE = 1200
DATA_SEED = 20240611

CONFIG_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Demo MLP config",
    "type": "object",
    "required": ["optimizer", "model", "batch_size"],
    "additionalProperties": False,
    "properties": {
        "optimizer": {
            "type": "object",
            "required": ["learning_rate"],
            "additionalProperties": False,
            "properties": {
                "learning_rate": {"type": "number", "exclusiveMinimum": 0, "maximum": 10},
                "momentum": {"type": "number", "minimum": 0, "maximum": 0.999},
            },
        },
        "model": {
            "type": "object",
            "required": ["hidden_width"],
            "additionalProperties": False,
            "properties": {"hidden_width": {"type": "integer", "minimum": 1, "maximum": 1024}},
        },
        "batch_size": {"type": "integer", "minimum": 1, "maximum": 4096},
        "seed": {"type": "integer", "minimum": 0},
    },
}

_LEARNING_RATES = (0.1, 0.03, 0.3, 0.01)
_WIDTHS = (32, 64, 16)


def sweep_configs(count: int, batch_sizes: tuple[int, int, int] = (64, 32, 128)) -> list[dict[str, Any]]:
    """`count` configs that differ in learning rate, width and batch size (both demos' sweep)."""
    return [
        {
            "optimizer": {"learning_rate": _LEARNING_RATES[i % 4], "momentum": 0.9},
            "model": {"hidden_width": _WIDTHS[(i // 2) % 3]},
            "batch_size": batch_sizes[i % 3],
            "seed": i,
        }
        for i in range(count)
    ]


def demo_configs(count: int) -> list[dict[str, Any]]:
    """The numpy demo's `count` configs."""
    return sweep_configs(count)


@dataclass(frozen=True)
class DataSet:
    train_x: np.ndarray
    train_y: np.ndarray
    val_x: np.ndarray
    val_y: np.ndarray


def make_data_set(seed: int = DATA_SEED) -> DataSet:
    """Four classes, each three overlapping Gaussian blobs, so a linear model is not enough."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 1.0, size=(NUM_CLASSES, 3, NUM_FEATURES))
    total = TRAIN_SIZE + VALIDATION_SIZE
    labels = rng.integers(0, NUM_CLASSES, size=total)
    blobs = rng.integers(0, 3, size=total)
    points = centres[labels, blobs] + rng.normal(0.0, 1.0, size=(total, NUM_FEATURES))
    points = points.astype(np.float64)
    return DataSet(points[:TRAIN_SIZE], labels[:TRAIN_SIZE],
                   points[TRAIN_SIZE:], labels[TRAIN_SIZE:])


class MLP:
    """Weights, momentum buffers and the hyperparameters of one run."""

    def __init__(self, config: dict[str, Any]) -> None:
        optimizer, model = config.get("optimizer", {}), config.get("model", {})
        self.learning_rate = float(optimizer["learning_rate"])
        self.momentum = float(optimizer.get("momentum", 0.9))
        self.batch_size = int(config["batch_size"])
        width = int(model["hidden_width"])
        if width < 1 or self.batch_size < 1 or self.learning_rate <= 0:
            raise ValueError("hidden_width, batch_size and learning_rate must be positive")
        rng = np.random.default_rng(int(config.get("seed", 0)))
        self.params = {
            "w1": rng.normal(0.0, 1.0 / np.sqrt(NUM_FEATURES), size=(NUM_FEATURES, width)),
            "b1": np.zeros(width),
            "w2": rng.normal(0.0, 1.0 / np.sqrt(width), size=(width, NUM_CLASSES)),
            "b2": np.zeros(NUM_CLASSES),
        }
        self.velocity = {name: np.zeros_like(value) for name, value in self.params.items()}

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        hidden = np.tanh(x @ self.params["w1"] + self.params["b1"])
        logits = hidden @ self.params["w2"] + self.params["b2"]
        logits -= logits.max(axis=1, keepdims=True)
        probabilities = np.exp(logits)
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        return hidden, probabilities

    def loss_and_accuracy(self, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        _, probabilities = self.forward(x)
        loss = -np.log(probabilities[np.arange(len(y)), y] + 1e-12).mean()
        return float(loss), float((probabilities.argmax(axis=1) == y).mean())

    def step(self, x: np.ndarray, y: np.ndarray) -> float:
        """One SGD-with-momentum step on a batch; returns the batch loss before the step."""
        hidden, probabilities = self.forward(x)
        count = len(y)
        loss = float(-np.log(probabilities[np.arange(count), y] + 1e-12).mean())
        grad_logits = probabilities
        grad_logits[np.arange(count), y] -= 1.0
        grad_logits /= count
        grad_hidden = (grad_logits @ self.params["w2"].T) * (1.0 - hidden**2)
        grads = {
            "w2": hidden.T @ grad_logits,
            "b2": grad_logits.sum(axis=0),
            "w1": x.T @ grad_hidden,
            "b1": grad_hidden.sum(axis=0),
        }
        for name, grad in grads.items():
            self.velocity[name] = self.momentum * self.velocity[name] - self.learning_rate * grad
            self.params[name] += self.velocity[name]
        return loss


class DemoTrainer:
    """The numpy trainer behind `rfconsole demo` (a `Trainer`)."""

    config_schema = CONFIG_SCHEMA

    def __init__(self, data_seed: int = DATA_SEED) -> None:
        self._data_seed = data_seed
        self._data: DataSet | None = None
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        """What goes to another process (a Ray actor): the seed; the data is made again there."""
        return {"data_seed": self._data_seed}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(int(state["data_seed"]))  # type: ignore[misc]

    @property
    def data(self) -> DataSet:
        with self._lock:  # made once, on first use, by whichever worker comes first
            if self._data is None:
                self._data = make_data_set(self._data_seed)
            return self._data

    def create_model(self, config: Any) -> MLP:
        try:
            return MLP(dict(config))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"the demo cannot build a model from this config ({exc})") from None

    def train_chunk(self, model: MLP, context: ChunkContext) -> ChunkResult:
        data = self.data
        # The same shuffled order per epoch for every run; a warm clone continues it.
        order = np.random.default_rng(self._data_seed + context.epoch).permutation(TRAIN_SIZE)
        size = -(-TRAIN_SIZE // context.num_chunks)
        indices = order[context.chunk * size:(context.chunk + 1) * size]
        losses: list[float] = []
        for start in range(0, len(indices), model.batch_size):
            if context.should_stop():
                break
            batch = indices[start:start + model.batch_size]
            losses.append(model.step(data.train_x[batch], data.train_y[batch]))
        if not losses:
            return ChunkResult({}, steps=0)
        val_loss, val_accuracy = model.loss_and_accuracy(data.val_x, data.val_y)
        return ChunkResult(
            {"train_loss": float(np.mean(losses)), "val_loss": val_loss,
             "val_accuracy": val_accuracy},
            steps=len(losses),
        )

    def get_state(self, model: MLP) -> dict[str, np.ndarray]:
        state = {name: value.copy() for name, value in model.params.items()}
        state.update({f"velocity_{name}": value.copy() for name, value in model.velocity.items()})
        return state

    def set_state(self, model: MLP, state: dict[str, np.ndarray]) -> None:
        for name, value in model.params.items():
            if state[name].shape != value.shape:
                raise ValueError(
                    f"the checkpoint's {name} has shape {state[name].shape} but this config "
                    f"needs {value.shape}; a warm start needs the parent's hidden_width"
                )
        for name in model.params:
            model.params[name] = state[name].copy()
            model.velocity[name] = state[f"velocity_{name}"].copy()
