"""PyTorch training code under the controller: `TorchTrainer` (install with `pip install 'rfconsole[torch]'`).

See controller/README.md for a guide; `rfconsole.controller.torch.demo` is the
trainer behind `rfconsole demo --trainer torch`.
"""

from __future__ import annotations

try:
    import torch  # noqa: F401  (absolute: the real PyTorch, not this package)
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise ImportError("rfconsole.controller.torch needs PyTorch: pip install 'rfconsole[torch]'",
                      name="torch") from exc

from .adapter import STATE_FORMAT, TorchRun, TorchTrainer, chunk_indices, pick_device, to_device

__all__ = ["STATE_FORMAT", "TorchRun", "TorchTrainer", "chunk_indices", "pick_device", "to_device"]
