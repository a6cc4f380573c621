"""PyTorch adapter benchmarks: its overhead per step, checkpoint cost, the torch demo's chunk time.

    .venv/bin/python benchmarks/bench_torch.py            # about a minute on 2 cores
    .venv/bin/python benchmarks/bench_torch.py --quick

Overhead: a tiny model, so that the adapter's own work per step (the stop check,
the DataLoader over the chunk's slice, metric sums) dominates; compared with a
hand-written loop over the same batches. Checkpoints: `get_state` (copies to the
CPU), pickling, and `set_state` for MLPs with Adam of about 1 M and 10 M
parameters. Demo: seconds per chunk of the `rfconsole demo --trainer torch`
configs at 12 chunks per epoch, without pace. Needs `pip install 'rfconsole[torch]'`.
"""

from __future__ import annotations

import argparse
import pickle
import statistics
import time
from typing import Any

import torch
from rfconsole.controller import ChunkContext
from rfconsole.controller.torch import TorchTrainer
from rfconsole.controller.torch.demo import TorchDemoTrainer, torch_demo_configs
from torch import nn
from torch.utils.data import TensorDataset


def context(position: int, num_chunks: int) -> ChunkContext:
    return ChunkContext(run_id=1, config={}, epoch=position // num_chunks, chunk=position % num_chunks,
                        num_chunks=num_chunks, num_epochs=1000, position=position)


def tiny_trainer(size: int) -> TorchTrainer:
    x = torch.randn(size, 8, generator=torch.Generator().manual_seed(0))
    return TorchTrainer(
        TensorDataset(x, x.sum(dim=1, keepdim=True)),
        build_model=lambda config: nn.Linear(8, 1),
        build_optimizer=lambda config, module: torch.optim.SGD(module.parameters(), lr=0.01),
        loss=nn.functional.mse_loss)


def bench_overhead(chunks: int) -> None:
    size, batch = 6400, 32
    trainer = tiny_trainer(size)
    run = trainer.create_model({"batch_size": batch})
    started = time.perf_counter()
    steps = sum(trainer.train_chunk(run, context(p, 10)).steps for p in range(chunks))
    adapter = (time.perf_counter() - started) / steps
    dataset = trainer.train_dataset()
    x, y = dataset.tensors  # type: ignore[attr-defined]
    model = nn.Linear(8, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    started, done = time.perf_counter(), 0
    while done < steps:
        for start in range(0, size // 10, batch):
            optimizer.zero_grad(set_to_none=True)
            loss = nn.functional.mse_loss(model(x[start:start + batch]), y[start:start + batch])
            loss.backward()
            optimizer.step()
            float(loss.detach())
            done += 1
    plain = (time.perf_counter() - started) / done
    print(f"per step, tiny model: adapter {adapter * 1e6:.0f} us, hand loop {plain * 1e6:.0f} us "
          f"(overhead {(adapter - plain) * 1e6:.0f} us over {steps} steps)")


def bench_checkpoints(repeats: int) -> None:
    for width in (700, 2200):  # about 1 M and 10 M parameters with two hidden layers
        trainer = TorchTrainer(
            TensorDataset(torch.randn(64, width), torch.randn(64, 1)),
            build_model=lambda config, w=width: nn.Sequential(nn.Linear(w, w), nn.ReLU(),
                                                              nn.Linear(w, w), nn.Linear(w, 1)),
            build_optimizer=lambda config, module: torch.optim.Adam(module.parameters()),
            loss=nn.functional.mse_loss)
        run = trainer.create_model({"batch_size": 64})
        trainer.train_chunk(run, context(0, 1))  # Adam's moments exist
        params = sum(p.numel() for p in run.module.parameters())
        get, dump, load = [], [], []
        for _ in range(repeats):
            started = time.perf_counter()
            state = trainer.get_state(run)
            get.append(time.perf_counter() - started)
            started = time.perf_counter()
            data = pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)
            dump.append(time.perf_counter() - started)
            other = trainer.create_model({"batch_size": 64})
            started = time.perf_counter()
            trainer.set_state(other, pickle.loads(data))
            load.append(time.perf_counter() - started)
        print(f"checkpoint, {params / 1e6:.1f} M params + Adam: {len(data) / 2**20:.0f} MiB; "
              f"get_state {statistics.median(get) * 1e3:.0f} ms, pickle {statistics.median(dump) * 1e3:.0f} ms, "
              f"unpickle + set_state {statistics.median(load) * 1e3:.0f} ms")


def bench_demo(chunks: int) -> None:
    trainer = TorchDemoTrainer()
    trainer.train_dataset()  # the data set's one-off load is not a chunk's cost
    times: list[float] = []
    for config in torch_demo_configs(4):
        run: Any = trainer.create_model(config)
        for position in range(chunks):
            started = time.perf_counter()
            trainer.train_chunk(run, context(position, 12))
            times.append(time.perf_counter() - started)
    print(f"torch demo: {statistics.median(times) * 1e3:.0f} ms per chunk (median), "
          f"{max(times) * 1e3:.0f} ms max, over {len(times)} chunks")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller samples")
    quick = parser.parse_args().quick
    bench_overhead(20 if quick else 100)
    bench_checkpoints(2 if quick else 5)
    bench_demo(6 if quick else 24)


if __name__ == "__main__":
    main()
