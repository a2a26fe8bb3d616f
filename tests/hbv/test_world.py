"""A run shared among processes (:mod:`discover.fit.world`): each process scores its
share of the sites, and every process ends with the whole batch's loss and gradient,
also when the shares are unequal (5 sites, 2 processes) and through a Trainer step."""

from __future__ import annotations

import subprocess
import sys

import torch
from torch import nn

from discover.fit.distributed import run_data_parallel
from discover.fit.world import World, current_world

SITES = 5


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 1))


def _inputs() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    return torch.randn(SITES, 3, generator=generator), torch.randn(SITES, 1, generator=generator)


def _loss(model: nn.Module, world: World) -> torch.Tensor:
    x, y = _inputs()
    share = world.share(SITES)
    local = (model(x[share]) - y[share]).pow(2).mean()
    return world.mean(local, share.stop - share.start)


def _worker(rank: int, size: int) -> tuple[float, list[torch.Tensor]]:
    world = current_world()
    assert world == World(rank, size)
    model = _model()
    loss = _loss(model, world)
    loss.backward()
    world.average_gradients(model.parameters())
    return float(loss.detach()), [p.grad for p in model.parameters()]


def check_shared_gradient() -> None:
    """Compare the shared loss and gradient with one process's; raise if they differ."""
    single = _model()
    loss = _loss(single, World())
    loss.backward()
    value, grads = run_data_parallel(_worker, world_size=2, threads=1)
    assert abs(value - float(loss.detach())) < 1e-6, (value, float(loss))
    for mine, theirs in zip(single.parameters(), grads, strict=True):
        assert torch.allclose(mine.grad, theirs, rtol=1e-5, atol=1e-7)


def test_shared_loss_and_gradient_equal_one_process_on_unequal_shares():
    # a fresh interpreter runs this file, so that spawned processes can import _worker
    result = subprocess.run([sys.executable, __file__], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]


def test_a_world_of_one_changes_nothing():
    world = current_world()
    assert world.alone and world.writes and world.share(SITES) == slice(0, SITES)
    value = torch.tensor(2.0, requires_grad=True)
    assert world.mean(value, 3) is value


if __name__ == "__main__":
    check_shared_gradient()
