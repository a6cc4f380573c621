"""Snapshots of a run's training state: CPU copies, RNG states, and a warm clone's own hyperparameters.

A snapshot must not alias the live model: PyTorch's `state_dict()` returns
references to the parameters and optimizer buffers, and `Optimizer.load_state_dict`
keeps the given tensors when they are already on the right device, so the next
training step would change the snapshot in place. Every snapshot is therefore
copied tensor by tensor, to the CPU, both when it is taken and when it is loaded.
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import torch

# Optimizer settings that a config sets and a warm clone may change (learning rate, momentum, ...).
_SETTING_TYPES = (bool, int, float, str, tuple, type(None))


def cpu_copy(value: Any) -> Any:
    """`value` with every tensor copied to the CPU (and containers rebuilt): shares no storage."""
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", copy=True)
    if isinstance(value, Mapping):
        result = OrderedDict() if isinstance(value, OrderedDict) else {}
        for key, item in value.items():
            result[key] = cpu_copy(item)
        metadata = getattr(value, "_metadata", None)  # module versions, read by load_state_dict
        if metadata is not None and isinstance(result, OrderedDict):
            result._metadata = copy.deepcopy(metadata)  # type: ignore[attr-defined]
        return result
    if isinstance(value, list):
        return [cpu_copy(item) for item in value]
    if isinstance(value, tuple):
        return tuple(cpu_copy(item) for item in value)
    return copy.deepcopy(value)


def optimizer_settings(optimizer: torch.optim.Optimizer) -> list[dict[str, Any]]:
    """Each param group's settings as the config made them (taken before a scheduler changes them)."""
    return [{key: value for key, value in group.items()
             if key != "params" and isinstance(value, _SETTING_TYPES)}
            for group in optimizer.param_groups]


def capture_rng(device: torch.device) -> dict[str, Any]:
    """PyTorch's global RNG states that training on `device` draws from (dropout, random ops)."""
    state: dict[str, Any] = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def restore_rng(state: Mapping[str, Any], device: torch.device) -> None:
    torch.set_rng_state(state["cpu"])
    if device.type == "cuda" and state.get("cuda") is not None:
        torch.cuda.set_rng_state(state["cuda"], device)


def seeded_rng(seed: int) -> dict[str, Any]:
    """The global RNG state a run starts from: the stream `torch.manual_seed(seed)` would give."""
    return {"cpu": torch.Generator().manual_seed(seed).get_state()}


def rebase_settings(optimizer_state: dict[str, Any], scheduler_state: dict[str, Any] | None,
                    parent: list[dict[str, Any]], own: list[dict[str, Any]]) -> None:
    """Give a parent's optimizer (and scheduler) state the clone's own settings, in place.

    A changed learning rate scales the parent's current one by new/old, so that
    a schedule in progress goes on at the clone's rate; other changed settings
    (momentum, weight decay, betas, ...) are simply replaced.
    """
    groups = optimizer_state.get("param_groups", [])
    if len(parent) != len(own) or len(groups) != len(own):
        raise ValueError(f"the checkpoint's optimizer has {len(groups)} parameter groups but this "
                         f"config's has {len(own)}; a warm start needs the parent's architecture")
    for index, (old, new) in enumerate(zip(parent, own, strict=True)):
        group = groups[index]
        for key, value in new.items():
            if old.get(key) == value:
                continue
            if key == "lr":
                previous = old.get("lr")
                ratio = value / previous if isinstance(previous, (int, float)) and previous else None
                group["lr"] = group["lr"] * ratio if ratio is not None else value
                if "initial_lr" in group:
                    group["initial_lr"] = value
                if scheduler_state is not None:
                    _rebase_scheduler(scheduler_state, index, value, ratio)
            else:
                group[key] = value


def _rebase_scheduler(state: dict[str, Any], index: int, lr: float, ratio: float | None) -> None:
    bases = state.get("base_lrs")
    if isinstance(bases, list) and index < len(bases):
        bases[index] = lr
    last = state.get("_last_lr")  # a key of the scheduler's state_dict
    if isinstance(last, list) and index < len(last):
        last[index] = last[index] * ratio if ratio is not None else lr
