"""Data-parallel training: δHBV under DistributedDataParallel (gloo, 2 CPU processes).

Each process takes half of the sites (:mod:`discover.fit.distributed`); the averaged
gradient must equal the gradient of the whole batch computed in one process.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from torch import nn

from discover.fit.distributed import data_parallel, run_data_parallel, shard_sites
from discover.models.hbv import HBV
from discover.models.parameters import AttributeMLP
from discover.processes import Neural

SITES, DAYS = 4, 60


class Hybrid(nn.Module):
    """Attributes → parameters (dPL) → HBV with a neural evapotranspiration slot."""

    def __init__(self, n_attributes: int):
        super().__init__()
        self.hbv = HBV()
        self.hbv.set_slot("evapotranspiration", Neural(["pet", "soil_wetness"], ">=0", (8,)))
        self.learner = AttributeMLP(n_attributes, self.hbv.parameter_names(), nmul=2, hidden=(8,))

    def forward(self, attributes: torch.Tensor, forcings: dict) -> torch.Tensor:
        return self.hbv(forcings, self.learner(attributes)).streamflow


def data(weather_maker):
    forcings = {k: v.float() for k, v in weather_maker(DAYS, SITES, seed=2).items()}
    attributes = torch.randn(SITES, 3, generator=torch.Generator().manual_seed(2))
    return attributes, forcings


def build(attributes: torch.Tensor) -> Hybrid:
    torch.manual_seed(0)
    model = Hybrid(attributes.shape[1])
    model.learner.set_normalisation(attributes)
    return model


def loss_of(model: nn.Module, attributes, forcings, sites: slice) -> torch.Tensor:
    flow = model(attributes[sites], {k: v[:, sites] for k, v in forcings.items()})
    return flow.pow(2).mean()


def _worker(rank: int, world: int, attributes, forcings) -> list[torch.Tensor]:
    model = data_parallel(build(attributes))
    loss_of(model, attributes, forcings, shard_sites(SITES, rank, world)).backward()
    return [p.grad for p in model.module.parameters()]


def check_ddp_gradient() -> None:
    """Compare the DDP gradient with the single-process one; raise if they differ."""
    from conftest import make_weather

    torch.set_num_threads(1)
    attributes, forcings = data(make_weather)
    single = build(attributes)
    halves = [slice(0, SITES // 2), slice(SITES // 2, SITES)]
    (sum(loss_of(single, attributes, forcings, h) for h in halves) / 2).backward()

    distributed = run_data_parallel(_worker, world_size=2, args=(attributes, forcings), threads=1)
    for mine, theirs in zip(single.parameters(), distributed, strict=True):
        assert torch.allclose(mine.grad, theirs, rtol=1e-4, atol=1e-6)
    assert any(float(g.abs().sum()) > 0 for g in distributed)


def test_ddp_gradient_equals_single_process_gradient():
    # A fresh interpreter runs this file, so that the spawned processes can import
    # ``_worker`` from it.
    result = subprocess.run([sys.executable, __file__], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]


def test_shards_cover_the_sites_once_and_differ_by_one_at_most():
    for n_sites, world in [(4, 2), (7, 3), (5, 5)]:
        shards = [shard_sites(n_sites, rank, world) for rank in range(world)]
        covered = [site for shard in shards for site in range(n_sites)[shard]]
        assert covered == list(range(n_sites))
        sizes = [shard.stop - shard.start for shard in shards]
        assert max(sizes) - min(sizes) <= 1
    with pytest.raises(ValueError, match="rank"):
        shard_sites(4, 2, 2)
    with pytest.raises(ValueError, match="3 sites among 4"):
        shard_sites(3, 0, 4)


def test_data_parallel_without_a_process_group_says_what_to_do():
    with pytest.raises(RuntimeError, match="run_data_parallel"):
        data_parallel(nn.Linear(2, 1))


if __name__ == "__main__":
    check_ddp_gradient()
