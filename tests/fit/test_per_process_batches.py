"""Per-process training batches (:mod:`discover.fit.batches`): in a run shared among
``N`` processes every process draws the same ``N`` batches each step and runs batch
number ``rank`` whole; an epoch counts the ``N`` batches of a step; whole-period losses
still share their sites. Alone, nothing changes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist

from discover.config import parse_config
from discover.fit import objective
from discover.fit.batches import Batch
from discover.fit.distributed import run_data_parallel
from discover.fit.trainer import Trainer
from discover.fit.world import World
from discover.workflows.hbv import HBVWorkflow

STEPS = 3


def _config() -> dict:
    return {
        "seed": 0,
        "data": {"source": "twin", "sites": 5, "days": 400},
        "model": {"type": "hbv", "warmup": 100, "nmul": 2},
        "train": {
            "split": 0.7,
            "iterations": STEPS,
            "lr": 0.05,
            "eval_every": 10**6,
            "checkpoint_every": 10**6,
            "schedule": "none",
            "batch": {"sites": 2, "days": 160, "warmup": 100},
        },
    }


def _workflow() -> HBVWorkflow:
    torch.manual_seed(0)
    workflow = HBVWorkflow(parse_config(_config()), Path("."))
    workflow.hide_sites([1])
    return workflow


def _key(batch: Batch) -> tuple:
    return tuple(batch.sites.tolist()), batch.first, batch.end


def test_rank_r_runs_the_r_th_of_the_step_s_draws_and_the_generators_stay_equal():
    workflow = _workflow()
    sampler, seen = workflow.sampler, workflow.flow_seen
    generator = torch.Generator().manual_seed(4)
    state = generator.get_state()
    alone = [sampler.draw(generator, seen) for _ in range(4)]
    after = generator.get_state()
    for rank in (0, 1):
        generator.set_state(state)
        mine = [sampler.draw(generator, seen, World(rank, 2)) for _ in range(2)]
        assert [_key(b) for b in mine] == [_key(b) for b in alone[rank::2]]
        assert torch.equal(generator.get_state(), after)  # every rank's generator alike
        assert all(not b.shared and b.share(World(rank, 2)) is b.sites for b in mine)
    generator.set_state(state)
    assert _key(sampler.draw(generator, seen, World())) == _key(alone[0])
    assert len({_key(b) for b in alone}) > 1


def test_an_epoch_counts_a_batch_per_process():
    workflow = _workflow()
    sampler, seen = workflow.sampler, workflow.flow_seen
    train = workflow.split_slices()["train"]
    site_days = 4 * (train.stop - train.start)  # five sites, one hidden
    assert workflow.batches_per_epoch == sampler.epoch(seen) == -(-site_days // (2 * 60))
    for processes in (2, 3):
        assert sampler.epoch(seen, processes) == -(-site_days // (2 * 60 * processes))


class _Recorder(World):
    """A process of a world of two that records its part of the mean."""

    parts: list[tuple[float, float]] = []

    def mean(self, value: torch.Tensor, weight: float = 1.0) -> torch.Tensor:
        self.parts.append((float(value.detach()), weight))
        return value


def test_each_process_scores_its_whole_batch_and_whole_periods_stay_shared(monkeypatch):
    workflow = _workflow()
    generator = torch.Generator().manual_seed(3)
    state = generator.get_state()
    with torch.no_grad():
        alone = [float(workflow.loss("train", generator)) for _ in range(2)]
        test = float(workflow.loss("test"))
        for rank in (0, 1):
            generator.set_state(state)
            monkeypatch.setattr(objective, "current_world", lambda r=rank: _Recorder(r, 2))
            workflow.loss("train", generator)
            workflow.loss("test")
    (a, _), (whole_a, wa), (b, _), (whole_b, wb) = _Recorder.parts
    assert [a, b] == pytest.approx(alone, rel=1e-12)  # batch 0 and batch 1, each whole
    assert (whole_a * wa + whole_b * wb) / (wa + wb) == pytest.approx(test, rel=1e-12)
    assert wa + wb == 4  # five sites, one hidden: shared, not run twice


def _fit() -> tuple[list[tuple], list[torch.Tensor], list[float], int | None]:
    """Train :data:`STEPS` steps: this process's batches, the final weights, the losses
    and the steps per epoch."""
    workflow = _workflow()
    draws: list[tuple] = []
    draw = workflow.sampler.draw
    workflow.sampler.draw = lambda *args: draws.append(_key(batch := draw(*args))) or batch
    result = Trainer(workflow, workflow.loss, workflow.config.train, progress=False).fit()
    weights = [p.detach().clone() for p in workflow.parameters()]
    return draws, weights, [row["train"] for row in result.history], workflow.batches_per_epoch


def _train(rank: int, size: int) -> list:
    """Two runs of :func:`_fit` in every process, gathered: [rank][run]."""
    mine = [_fit(), _fit()]
    everyone: list = [None] * size
    dist.all_gather_object(everyone, mine)
    return everyone


def _equal(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


def check_two_processes() -> None:
    """Raise unless two gloo processes run different batches (the ones one generator
    draws in turn), end with equal weights, and a second run repeats the first."""
    # fork: this fresh interpreter has only imported modules (no OpenMP threads yet)
    runs = run_data_parallel(_train, world_size=2, threads=1, start_method="fork")
    (first0, again0), (first1, _) = runs
    workflow = _workflow()
    generator = torch.Generator().manual_seed(0)  # the trainer's (seed 0)
    turns = [_key(workflow.sampler.draw(generator, workflow.flow_seen)) for _ in range(2 * STEPS)]
    assert first0[0] == turns[0::2] and first1[0] == turns[1::2], (first0[0], first1[0], turns)
    assert first0[0] != first1[0]
    assert _equal(first0[1], first1[1]) and first0[2] == pytest.approx(first1[2], rel=1e-12)
    assert first0[3] == workflow.sampler.epoch(workflow.flow_seen, 2)
    assert again0[2] == first0[2] and _equal(again0[1], first0[1])
    assert not _equal(first0[1], [p.detach() for p in workflow.parameters()])  # trained


def test_two_processes_run_their_own_batches_with_equal_weights_reproducibly():
    # a fresh interpreter runs this file, whose processes are forked from it
    result = subprocess.run([sys.executable, __file__], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]


if __name__ == "__main__":
    check_two_processes()
