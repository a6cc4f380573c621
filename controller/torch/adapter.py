"""`TorchTrainer`: the controller's trainer protocol for PyTorch code, chunk by chunk.

The user gives the pieces — a model and an optimizer built from a config, a
map-style dataset, a loss (or a whole training step) and an evaluation — either
as constructor arguments or by overriding the methods of the same names. The
adapter does the rest:

- chunk `k` of an epoch is the `k`-th contiguous slice of that epoch's shuffle,
  seeded by the run's data seed, so the same chunk is the same data after a
  resume, and a warm clone (which inherits the parent's data seed and position)
  goes on with the parent's data order;
- `get_state` / `set_state` carry the model, optimizer and LR scheduler
  `state_dict`s, PyTorch's RNG states and the step count, copied to the CPU;
- `should_stop()` is asked every `stop_check_every` steps;
- a chunk reports the mean of each step metric (`train_loss`, ...) plus the
  evaluation metrics, and its number of steps;
- each run trains on the CPU, or on one CUDA device when there are any.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from rfconsole.controller.dataclass_config import parse_config, schema_for
from rfconsole.controller.trainer import ChunkContext, ChunkResult
from torch.utils.data import DataLoader, Dataset

from .state import (
    capture_rng,
    cpu_copy,
    optimizer_settings,
    rebase_settings,
    restore_rng,
    seeded_rng,
)

STATE_FORMAT = "rfconsole.torch/1"

# PyTorch has one global RNG per process: trainers with `exclusive_rng` take turns on it.
_GLOBAL_RNG_TURN = threading.RLock()


def chunk_indices(size: int, data_seed: int, epoch: int, chunk: int, num_chunks: int) -> torch.Tensor:
    """The dataset indices of chunk `chunk` of `epoch`: a contiguous slice of a seeded shuffle.

    The slices of one epoch are disjoint, cover every index once, and differ in
    length by at most one.
    """
    generator = torch.Generator().manual_seed((data_seed * 1_000_003 + epoch) % (2**63))
    order = torch.randperm(size, generator=generator)
    return order[chunk * size // num_chunks:(chunk + 1) * size // num_chunks]


def pick_device(run_id: int, cuda_devices: int) -> torch.device:
    """The CPU without CUDA devices; else one device per run, runs spread round-robin."""
    if cuda_devices <= 0:
        return torch.device("cpu")
    return torch.device("cuda", (run_id - 1) % cuda_devices)


def to_device(batch: Any, device: torch.device) -> Any:
    """Every tensor of a batch (tensors, tuples, lists, dicts of them) moved to `device`."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, Mapping):
        return {key: to_device(value, device) for key, value in batch.items()}
    if isinstance(batch, list):
        return [to_device(value, device) for value in batch]
    if isinstance(batch, tuple):
        moved = [to_device(value, device) for value in batch]
        return type(batch)(*moved) if hasattr(batch, "_fields") else tuple(moved)  # namedtuples too
    return batch


@dataclass(eq=False)
class TorchRun:
    """What the controller holds as one run's model: the module and everything that trains it."""

    config: Any  # the parsed config (a dataclass instance with `config_class`, else a dict)
    module: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any  # a torch.optim.lr_scheduler.LRScheduler, or None
    data_seed: int
    rng: dict[str, Any]  # PyTorch's global RNG states between this run's chunks
    settings: list[dict[str, Any]]  # the optimizer settings as the config made them
    steps: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    placed: bool = False


class TorchTrainer:
    """A `Trainer` for PyTorch models; see the module docstring and controller/README.md."""

    config_class: type | None = None  # a dataclass: the config schema and the parsed config
    config_schema: dict[str, Any] | None = None  # or a JSON Schema, configs stay dicts
    stop_check_every = 1  # steps between two `should_stop()` checks
    scheduler_interval = "step"  # or "epoch": when the LR scheduler steps
    batch_size_key = "batch_size"  # the config field with the batch size ...
    default_batch_size = 32  # ... used when the config has none
    seed_key = "seed"  # the config field with the run's seed (model init, data order)
    loader_workers = 0  # DataLoader worker processes
    device: str | None = None  # force a device ("cpu", "cuda:1"); default: picked per run
    exclusive_rng = False  # True: one chunk at a time in the process, exact RNG with several workers

    def __init__(
        self,
        dataset: Dataset[Any] | None = None,
        *,
        build_model: Callable[[Any], torch.nn.Module] | None = None,
        build_optimizer: Callable[[Any, torch.nn.Module], torch.optim.Optimizer] | None = None,
        build_scheduler: Callable[[Any, torch.optim.Optimizer], Any] | None = None,
        loss: Callable[[Any, Any], torch.Tensor] | None = None,
        evaluate: Callable[[torch.nn.Module, torch.device], Mapping[str, float]] | None = None,
        config_class: type | None = None,
        config_schema: Mapping[str, Any] | None = None,
        collate_fn: Callable[[list[Any]], Any] | None = None,
        device: str | None = None,
    ) -> None:
        self.dataset = dataset
        self._build_model, self._build_optimizer = build_model, build_optimizer
        self._build_scheduler, self._loss, self._evaluate = build_scheduler, loss, evaluate
        self.collate_fn = collate_fn
        if config_class is not None:
            self.config_class = config_class
        if device is not None:
            self.device = device
        if self.scheduler_interval not in ("step", "epoch"):
            raise ValueError(f"scheduler_interval must be 'step' or 'epoch', not {self.scheduler_interval!r}")
        if config_schema is not None:
            self.config_schema = dict(config_schema)
        elif self.config_schema is None and self.config_class is not None:
            self.config_schema = schema_for(self.config_class)

    # --- the user's pieces (override these, or pass them to the constructor) ---

    def parse_config(self, config: Mapping[str, Any]) -> Any:
        return parse_config(self.config_class, config) if self.config_class else dict(config)

    def build_model(self, config: Any) -> torch.nn.Module:
        module: torch.nn.Module = self._given(self._build_model, "build_model")(config)
        return module

    def build_optimizer(self, config: Any, module: torch.nn.Module) -> torch.optim.Optimizer:
        optimizer: torch.optim.Optimizer = self._given(self._build_optimizer, "build_optimizer")(config, module)
        return optimizer

    def build_scheduler(self, config: Any, optimizer: torch.optim.Optimizer) -> Any:
        return self._build_scheduler(config, optimizer) if self._build_scheduler else None

    def train_dataset(self) -> Dataset[Any]:
        if self.dataset is None:
            raise NotImplementedError(f"{type(self).__name__} has no dataset: pass one or override "
                                      f"train_dataset")
        return self.dataset

    def training_step(self, run: TorchRun, batch: Any) -> torch.Tensor | tuple[torch.Tensor, Mapping[str, Any]]:
        """The loss of one batch (and optionally more metrics); the default is `loss(model(x), y)`."""
        inputs, targets = batch
        loss: torch.Tensor = self._given(self._loss, "loss")(run.module(inputs), targets)
        return loss

    def evaluate(self, run: TorchRun) -> Mapping[str, float]:
        """Metrics after each chunk (in eval mode, without gradients); none by default."""
        return self._evaluate(run.module, run.device) if self._evaluate else {}

    def cuda_device_count(self) -> int:
        return torch.cuda.device_count() if torch.cuda.is_available() else 0

    def device_for(self, run_id: int) -> torch.device:
        return torch.device(self.device) if self.device else pick_device(run_id, self.cuda_device_count())

    def config_value(self, config: Any, key: str, default: Any) -> Any:
        if isinstance(config, Mapping):
            return config.get(key, default)
        return getattr(config, key, default)

    # --- the Trainer protocol ---

    def create_model(self, config: Mapping[str, Any]) -> TorchRun:
        parsed = self.parse_config(config)
        seed = int(self.config_value(parsed, self.seed_key, 0))
        with self._rng_turn(), torch.random.fork_rng(devices=[]):  # same seed, same initial weights
            torch.default_generator.manual_seed(seed)
            module = self.build_model(parsed)
            optimizer = self.build_optimizer(parsed, module)
            settings = optimizer_settings(optimizer)
            scheduler = self.build_scheduler(parsed, optimizer)
        return TorchRun(config=parsed, module=module, optimizer=optimizer, scheduler=scheduler,
                        data_seed=seed, rng=seeded_rng(seed), settings=settings)

    def train_chunk(self, model: TorchRun, context: ChunkContext) -> ChunkResult:
        run = model
        self.place(run, context.run_id)
        dataset = self.train_dataset()
        indices = chunk_indices(len(dataset), run.data_seed, context.epoch,  # type: ignore[arg-type]
                                context.chunk, context.num_chunks)
        batch_size = int(self.config_value(run.config, self.batch_size_key, self.default_batch_size))
        loader = DataLoader(dataset, batch_size=batch_size, sampler=indices.tolist(),
                            num_workers=self.loader_workers, collate_fn=self.collate_fn)
        sums: dict[str, float] = {}
        steps = 0
        every = max(1, int(self.stop_check_every))
        with self._run_rng(run):
            run.module.train()
            for batch in loader:
                if steps % every == 0 and context.should_stop():
                    return ChunkResult({}, steps=steps)  # thrown away by the controller
                for name, value in self.step(run, to_device(batch, run.device)).items():
                    sums[name] = sums.get(name, 0.0) + float(value)
                steps += 1
                run.steps += 1
            if run.scheduler is not None and self.scheduler_interval == "epoch" \
                    and context.chunk == context.num_chunks - 1:
                run.scheduler.step()
            metrics = {name: total / steps for name, total in sums.items()} if steps else {}
            run.module.eval()
            with torch.no_grad():
                metrics.update({name: float(value) for name, value in self.evaluate(run).items()})
            run.module.train()
        return ChunkResult(metrics, steps=steps)

    def step(self, run: TorchRun, batch: Any) -> dict[str, float]:
        """One optimisation step on a batch; returns its metrics (`train_loss` and any extras)."""
        run.optimizer.zero_grad(set_to_none=True)
        result = self.training_step(run, batch)
        loss, extra = result if isinstance(result, tuple) else (result, {})
        loss.backward()  # type: ignore[no-untyped-call]
        run.optimizer.step()
        if run.scheduler is not None and self.scheduler_interval == "step":
            run.scheduler.step()
        return {"train_loss": float(loss.detach()), **{name: float(value) for name, value in extra.items()}}

    def get_state(self, model: TorchRun) -> dict[str, Any]:
        run = model
        return {
            "format": STATE_FORMAT,
            "model": cpu_copy(run.module.state_dict()),
            "optimizer": cpu_copy(run.optimizer.state_dict()),
            "scheduler": cpu_copy(run.scheduler.state_dict()) if run.scheduler is not None else None,
            "settings": cpu_copy(run.settings),
            "rng": cpu_copy(run.rng),
            "steps": run.steps,
            "data_seed": run.data_seed,
        }

    def set_state(self, model: TorchRun, state: Any) -> None:
        run = model
        if not isinstance(state, Mapping) or state.get("format") != STATE_FORMAT:
            raise ValueError("the checkpoint was not made by rfconsole's PyTorch trainer")
        state = cpu_copy(state)  # the caller's snapshot must not become the live tensors
        try:
            run.module.load_state_dict(state["model"])
        except RuntimeError as exc:
            detail = " ".join(str(exc).split())
            raise ValueError(f"the checkpoint does not fit this config's model ({detail[:300]}); "
                             f"a warm start needs the parent's architecture") from None
        optimizer_state, scheduler_state = state["optimizer"], state["scheduler"]
        if state["settings"] != run.settings:  # a warm clone with its own learning rate, ...
            rebase_settings(optimizer_state, scheduler_state, state["settings"], run.settings)
        try:
            run.optimizer.load_state_dict(optimizer_state)
        except ValueError as exc:
            raise ValueError(f"the checkpoint's optimizer does not fit this config's ({exc})") from None
        if run.scheduler is not None and scheduler_state is not None:
            run.scheduler.load_state_dict(scheduler_state)
        # Loading copied into the module's own parameters and put the optimizer's buffers
        # beside them, so a placed run stays on its device.
        run.rng, run.steps, run.data_seed = state["rng"], int(state["steps"]), int(state["data_seed"])

    # --- placement and RNG ---

    def place(self, run: TorchRun, run_id: int) -> None:
        """Move a run's module and optimizer state to its device, once."""
        if run.placed:
            return
        device = self.device_for(run_id)
        if device.type != "cpu":
            run.module.to(device)
            # load_state_dict puts the optimizer's buffers on their parameters' device.
            run.optimizer.load_state_dict(run.optimizer.state_dict())
        run.device, run.placed = device, True

    @contextlib.contextmanager
    def _run_rng(self, run: TorchRun) -> Iterator[None]:
        """PyTorch's global RNG set to the run's state for a chunk, and saved back after it."""
        on_device = torch.cuda.device(run.device) if run.device.type == "cuda" else contextlib.nullcontext()
        with self._rng_turn(), on_device:
            if run.device.type == "cuda" and "cuda" not in run.rng:
                torch.cuda.manual_seed(run.data_seed)  # seeds the current device: the run's
            restore_rng(run.rng, run.device)
            try:
                yield
            finally:
                run.rng = capture_rng(run.device)

    def _rng_turn(self) -> contextlib.AbstractContextManager[Any]:
        return _GLOBAL_RNG_TURN if self.exclusive_rng else contextlib.nullcontext()

    @staticmethod
    def _given(piece: Callable[..., Any] | None, name: str) -> Callable[..., Any]:
        if piece is None:
            raise NotImplementedError(f"pass {name}= to TorchTrainer or override its {name} method")
        return piece
