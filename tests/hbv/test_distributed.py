"""Data-parallel training: δHBV under DistributedDataParallel (gloo, 2 CPU processes).

Each process takes half of the sites; the averaged gradient must equal the gradient of
the whole batch computed in one process.
"""

from __future__ import annotations

import os
import subprocess
import sys

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn
from torch.nn.parallel import DistributedDataParallel

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


def _worker(rank: int, world: int, port: int, attributes, forcings, out_path: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        model = DistributedDataParallel(build(attributes))
        share = SITES // world
        loss_of(model, attributes, forcings, slice(rank * share, (rank + 1) * share)).backward()
        if rank == 0:
            torch.save([p.grad for p in model.module.parameters()], out_path)
    finally:
        dist.destroy_process_group()


def check_ddp_gradient(out_dir: str) -> None:
    """Compare the DDP gradient with the single-process one; raise if they differ."""
    from conftest import make_weather

    torch.set_num_threads(1)
    attributes, forcings = data(make_weather)
    single = build(attributes)
    halves = [slice(0, SITES // 2), slice(SITES // 2, SITES)]
    (sum(loss_of(single, attributes, forcings, h) for h in halves) / 2).backward()

    out_path = os.path.join(out_dir, "grads.pt")
    port = 29500 + os.getpid() % 1000
    mp.start_processes(
        _worker, args=(2, port, attributes, forcings, out_path), nprocs=2, start_method="fork"
    )
    distributed = torch.load(out_path)
    for mine, theirs in zip(single.parameters(), distributed, strict=True):
        assert torch.allclose(mine.grad, theirs, rtol=1e-4, atol=1e-6)
    assert any(float(g.abs().sum()) > 0 for g in distributed)


def test_ddp_gradient_equals_single_process_gradient(tmp_path):
    # A fresh interpreter: forking a process whose OpenMP pool other tests already
    # started can deadlock.
    result = subprocess.run(
        [sys.executable, __file__, str(tmp_path)], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]


if __name__ == "__main__":
    check_ddp_gradient(sys.argv[1])
