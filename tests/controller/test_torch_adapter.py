"""The PyTorch adapter on its own: chunk slices, checkpoints, warm-clone settings, stop, devices."""

from __future__ import annotations

import copy
import os
import pickle
from dataclasses import dataclass

import pytest

# Slow as a whole (importing torch takes seconds): see TORCH_TEST_MODULES in conftest.py.
pytestmark = pytest.mark.slow

# CI installs the torch extra, so there a missing PyTorch is a failure, not a skip; a CI job on a
# Python without a CPU build of torch sets RFCONSOLE_TORCH_TESTS=optional.
if os.environ.get("CI", "").lower() in ("1", "true", "yes") \
        and os.environ.get("RFCONSOLE_TORCH_TESTS") != "optional":
    import torch
else:
    torch = pytest.importorskip("torch", reason="needs PyTorch: pip install 'rfconsole[torch]'")

from rfconsole.controller import ChunkContext  # noqa: E402
from rfconsole.controller.torch import (  # noqa: E402
    STATE_FORMAT,
    TorchTrainer,
    chunk_indices,
    pick_device,
    to_device,
)
from torch import nn  # noqa: E402
from torch.utils.data import Dataset, TensorDataset  # noqa: E402

SIZE = 200


class Recording(Dataset):
    """A dataset that remembers which indices were read, in order."""

    def __init__(self) -> None:
        generator = torch.Generator().manual_seed(7)
        self.x = torch.randn(SIZE, 4, generator=generator)
        self.y = (self.x[:, 0] > 0).long() + (self.x[:, 1] > 0).long()
        self.seen: list[int] = []

    def __len__(self) -> int:
        return SIZE

    def __getitem__(self, index: int):
        self.seen.append(int(index))
        return self.x[index], self.y[index]


@dataclass
class Config:
    lr: float = 0.01
    width: int = 8
    batch_size: int = 10
    seed: int = 0


class Tiny(TorchTrainer):
    """Adam, a StepLR schedule and dropout: every piece of state a checkpoint must carry."""

    config_class = Config

    def __init__(self, dataset: Dataset | None = None, **kwargs) -> None:
        super().__init__(dataset if dataset is not None else Recording(), **kwargs)
        self.step_calls = 0

    def build_model(self, config: Config) -> nn.Module:
        return nn.Sequential(nn.Linear(4, config.width), nn.ReLU(), nn.Dropout(0.3),
                             nn.Linear(config.width, 3))

    def build_optimizer(self, config: Config, module: nn.Module) -> torch.optim.Optimizer:
        return torch.optim.Adam(module.parameters(), lr=config.lr)

    def build_scheduler(self, config: Config, optimizer: torch.optim.Optimizer):
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=5, gamma=0.5)

    def training_step(self, run, batch):
        self.step_calls += 1
        inputs, targets = batch
        logits = run.module(inputs)
        accuracy = (logits.argmax(dim=1) == targets).float().mean()
        return nn.functional.cross_entropy(logits, targets), {"train_accuracy": accuracy}


def context(position: int, num_chunks: int = 4, should_stop=lambda: False) -> ChunkContext:
    return ChunkContext(run_id=1, config={}, epoch=position // num_chunks,
                        chunk=position % num_chunks, num_chunks=num_chunks, num_epochs=3,
                        position=position, should_stop=should_stop)


def same_tensors(left, right) -> bool:
    if isinstance(left, torch.Tensor):
        return isinstance(right, torch.Tensor) and torch.equal(left, right)
    if isinstance(left, dict):
        return left.keys() == right.keys() and all(same_tensors(left[k], right[k]) for k in left)
    if isinstance(left, (list, tuple)):
        return len(left) == len(right) and all(same_tensors(a, b) for a, b in zip(left, right, strict=False))
    return left == right


@pytest.mark.parametrize(("size", "num_chunks"), [(200, 4), (101, 12), (7, 3), (5, 8)])
def test_the_chunks_of_an_epoch_are_disjoint_slices_that_cover_it(size, num_chunks):
    slices = [chunk_indices(size, 3, 1, k, num_chunks).tolist() for k in range(num_chunks)]
    together = [index for part in slices for index in part]
    assert sorted(together) == list(range(size))  # every index once
    assert max(map(len, slices)) - min(map(len, slices)) <= 1
    assert slices == [chunk_indices(size, 3, 1, k, num_chunks).tolist() for k in range(num_chunks)]
    if size > 20:
        assert together != list(range(size))  # shuffled ...
        assert together != [i for k in range(num_chunks)  # ... and differently each epoch
                            for i in chunk_indices(size, 3, 2, k, num_chunks).tolist()]


def test_a_chunk_trains_on_its_slice_and_a_resumed_run_sees_the_same_data():
    first = Tiny()
    run = first.create_model({"seed": 5})
    seen = []
    for position in range(3):
        first.dataset.seen.clear()
        result = first.train_chunk(run, context(position))
        seen.append(list(first.dataset.seen))
        if position == 1:
            state = pickle.loads(pickle.dumps(first.get_state(run)))
        assert result.steps == 5  # 50 samples in batches of 10
    assert seen[0] == chunk_indices(SIZE, 5, 0, 0, 4).tolist()
    assert seen[1] == chunk_indices(SIZE, 5, 0, 1, 4).tolist()
    again = Tiny()  # another process, say: a fresh trainer and model
    resumed = again.create_model({"seed": 5})
    again.set_state(resumed, state)
    again.train_chunk(resumed, context(2))
    assert again.dataset.seen == seen[2]


def test_a_checkpoint_continues_bit_for_bit():
    trainer = Tiny()
    original = trainer.create_model({"lr": 0.02, "seed": 1})
    for position in range(2):
        trainer.train_chunk(original, context(position))
    state = pickle.loads(pickle.dumps(trainer.get_state(original)))
    copy_ = trainer.create_model({"lr": 0.02, "seed": 1})
    trainer.set_state(copy_, state)
    for position in (2, 3, 4):  # across an epoch boundary and a scheduler step
        expected = trainer.train_chunk(original, context(position))
        got = trainer.train_chunk(copy_, context(position))
        assert got == expected
    assert same_tensors(copy_.module.state_dict(), original.module.state_dict())
    assert same_tensors(copy_.optimizer.state_dict(), original.optimizer.state_dict())
    assert copy_.scheduler.state_dict() == original.scheduler.state_dict()
    assert copy_.optimizer.param_groups[0]["lr"] == 0.02 * 0.5 ** (25 // 5)  # 25 steps so far
    assert torch.equal(copy_.rng["cpu"], original.rng["cpu"])
    assert copy_.steps == original.steps == 25


def test_a_checkpoint_is_on_the_cpu_and_shares_nothing_with_the_models():
    trainer = Tiny()
    run = trainer.create_model({})
    trainer.train_chunk(run, context(0))
    state = trainer.get_state(run)
    kept = copy.deepcopy(state)
    assert state["format"] == STATE_FORMAT
    tensors = [v for part in ("model", "rng") for v in state[part].values()]
    tensors += [v for group in state["optimizer"]["state"].values() for v in group.values()]
    assert tensors
    assert all(t.device.type == "cpu" for t in tensors if isinstance(t, torch.Tensor))
    trainer.train_chunk(run, context(1))  # training on must not change the snapshot taken ...
    other = trainer.create_model({})
    trainer.set_state(other, state)
    trainer.train_chunk(other, context(1))  # ... nor training the model it was loaded into
    assert same_tensors(state, kept)


def test_a_stop_is_honoured_within_a_few_steps():
    trainer = Tiny()
    trainer.stop_check_every = 2
    run = trainer.create_model({"batch_size": 2})  # 50 steps in a chunk
    asked = []

    def should_stop() -> bool:
        asked.append(trainer.step_calls)
        return len(asked) >= 3

    result = trainer.train_chunk(run, context(0, should_stop=should_stop))
    assert asked == [0, 2, 4]
    assert result.steps == trainer.step_calls == 4
    assert result.metrics == {}


def test_a_chunk_reports_mean_step_metrics_evaluation_and_steps():
    evaluated = []

    def evaluate(module, device):
        evaluated.append(module.training)
        return {"val_loss": 0.5}

    trainer = Tiny(evaluate=evaluate)
    run = trainer.create_model({})
    result = trainer.train_chunk(run, context(0))
    assert set(result.metrics) == {"train_loss", "train_accuracy", "val_loss"}
    assert 0.0 <= result.metrics["train_accuracy"] <= 1.0
    assert result.steps == 5
    assert evaluated == [False]  # in eval mode
    assert run.module.training


def test_a_warm_clone_keeps_the_parents_state_with_its_own_learning_rate():
    trainer = Tiny()
    parent = trainer.create_model({"lr": 0.01, "seed": 1})
    for position in range(2):  # 10 steps: StepLR has halved the rate twice
        trainer.train_chunk(parent, context(position))
    assert parent.optimizer.param_groups[0]["lr"] == pytest.approx(0.0025)
    clone = trainer.create_model({"lr": 0.1, "seed": 9})
    trainer.set_state(clone, trainer.get_state(parent))
    assert clone.optimizer.param_groups[0]["lr"] == pytest.approx(0.025)  # its rate, on schedule
    assert clone.scheduler.base_lrs == [pytest.approx(0.1)]
    assert clone.scheduler.last_epoch == parent.scheduler.last_epoch
    assert same_tensors(clone.optimizer.state_dict()["state"], parent.optimizer.state_dict()["state"])
    assert same_tensors(clone.module.state_dict(), parent.module.state_dict())
    assert clone.data_seed == parent.data_seed == 1  # the parent's data order goes on
    trainer.train_chunk(clone, context(2))
    assert clone.optimizer.param_groups[0]["lr"] == pytest.approx(0.0125)


def test_a_checkpoint_that_does_not_fit_is_refused_in_one_sentence():
    trainer = Tiny()
    state = trainer.get_state(trainer.create_model({"width": 8}))
    wider = trainer.create_model({"width": 16})
    with pytest.raises(ValueError, match="a warm start needs the parent's architecture") as caught:
        trainer.set_state(wider, state)
    assert "\n" not in str(caught.value)
    with pytest.raises(ValueError, match="not made by rfconsole's PyTorch trainer"):
        trainer.set_state(wider, {"w": 1})


def test_the_device_is_the_cpu_without_cuda_and_one_cuda_device_per_run_with_it():
    assert pick_device(1, 0) == torch.device("cpu")
    assert [pick_device(run_id, 2) for run_id in (1, 2, 3)] == [
        torch.device("cuda", 0), torch.device("cuda", 1), torch.device("cuda", 0)]

    class TwoGpus(Tiny):
        def cuda_device_count(self) -> int:
            return 2

    assert TwoGpus().device_for(4) == torch.device("cuda", 1)
    assert Tiny(device="cpu").device_for(4) == torch.device("cpu")
    expected = torch.device("cuda", 0) if torch.cuda.is_available() else torch.device("cpu")
    trainer = Tiny()
    run = trainer.create_model({})
    trainer.train_chunk(run, context(0))
    assert run.device == expected
    assert next(run.module.parameters()).device.type == expected.type


def test_batches_are_moved_whole():
    batch = {"x": torch.ones(2), "pair": (torch.zeros(1), [torch.ones(1)]), "name": "a"}
    moved = to_device(batch, torch.device("cpu"))
    assert same_tensors(moved, {"x": torch.ones(2), "pair": (torch.zeros(1), [torch.ones(1)]),
                                "name": "a"})


def test_the_pieces_can_be_given_to_the_constructor_with_a_json_schema():
    x = torch.randn(40, 3, generator=torch.Generator().manual_seed(0))
    schema = {"type": "object", "properties": {"lr": {"type": "number"}}}
    trainer = TorchTrainer(
        TensorDataset(x, x.sum(dim=1, keepdim=True)),
        build_model=lambda config: nn.Linear(3, 1),
        build_optimizer=lambda config, module: torch.optim.SGD(module.parameters(), lr=config["lr"]),
        loss=nn.functional.mse_loss, config_schema=schema)
    assert trainer.config_schema == schema
    run = trainer.create_model({"lr": 0.1})
    assert run.config == {"lr": 0.1}
    losses = [trainer.train_chunk(run, context(p)).metrics["train_loss"] for p in range(8)]
    assert losses[-1] < losses[0] / 4
    with pytest.raises(NotImplementedError, match="pass build_model="):
        TorchTrainer(TensorDataset(x)).create_model({})


def test_the_config_schema_comes_from_the_dataclass():
    schema = Tiny().config_schema
    assert schema["additionalProperties"] is False
    assert schema["properties"]["lr"] == {"type": "number", "default": 0.01}
    assert schema["properties"]["batch_size"]["type"] == "integer"
    with pytest.raises(ValueError, match="unknown config key 'learning_rate'"):
        Tiny().create_model({"learning_rate": 0.1})


def test_a_stop_waiting_before_the_chunk_trains_nothing():
    trainer = Tiny()
    run = trainer.create_model({})
    result = trainer.train_chunk(run, context(0, should_stop=lambda: True))
    assert result.steps == trainer.step_calls == run.steps == 0


def test_an_epoch_scheduler_steps_once_at_the_end_of_each_epoch():
    trainer = Tiny()
    trainer.scheduler_interval = "epoch"
    run = trainer.create_model({})
    for position in range(6):
        trainer.train_chunk(run, context(position))
        assert run.scheduler.last_epoch == (position + 1) // 4


def test_dict_batches_and_a_model_returning_its_loss_work_as_with_hugging_face():
    class Items(Dataset):
        def __init__(self) -> None:
            self.x = torch.randn(60, 4, generator=torch.Generator().manual_seed(3))

        def __len__(self) -> int:
            return 60

        def __getitem__(self, index: int):
            return {"input_ids": self.x[index], "labels": self.x[index].sum().reshape(1)}

    class Model(nn.Module):  # like a transformers model: keyword inputs, an output with .loss
        def __init__(self) -> None:
            super().__init__()
            self.linear = nn.Linear(4, 1)

        def forward(self, input_ids, labels):
            from types import SimpleNamespace

            return SimpleNamespace(loss=nn.functional.mse_loss(self.linear(input_ids), labels))

    class Seq2Seq(TorchTrainer):
        def build_model(self, config):
            return Model()

        def build_optimizer(self, config, module):
            return torch.optim.SGD(module.parameters(), lr=0.05)

        def training_step(self, run, batch):
            return run.module(**batch).loss

    trainer = Seq2Seq(Items())
    run = trainer.create_model({"batch_size": 5})
    losses = [trainer.train_chunk(run, context(p, num_chunks=2)).metrics["train_loss"] for p in range(8)]
    assert losses[-1] < losses[0] / 2


def test_with_exclusive_rng_runs_trained_at_once_take_turns_and_stay_exact():
    import threading

    class Turns(Tiny):
        exclusive_rng = True

        def __init__(self) -> None:
            super().__init__()
            self.order: list[int] = []

        def training_step(self, run, batch):
            self.order.append(run.data_seed)
            return super().training_step(run, batch)

    def train(trainer, run):
        for position in range(3):
            results[(trainer, run.data_seed)].append(trainer.train_chunk(run, context(position)))

    alone, together = Turns(), Turns()
    results = {(t, seed): [] for t in (alone, together) for seed in (1, 2)}
    for seed in (1, 2):
        train(alone, alone.create_model({"seed": seed}))
    runs_ = [together.create_model({"seed": seed}) for seed in (1, 2)]
    threads = [threading.Thread(target=train, args=(together, run)) for run in runs_]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    chunks = [together.order[i:i + 5] for i in range(0, len(together.order), 5)]
    assert len(chunks) == 6
    assert all(len(set(chunk)) == 1 for chunk in chunks)  # no chunk's steps interleaved
    for seed in (1, 2):
        assert results[(together, seed)] == results[(alone, seed)]
