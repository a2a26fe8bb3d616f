"""An HBV loss shared between two gloo processes equals one process's loss, and so does
its gradient: whole periods (a random batch is per process:
tests/fit/test_per_process_batches.py), each parameter learner, unequal shares (five
sites) and a hidden site."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from discover.config import parse_config
from discover.fit.distributed import run_data_parallel
from discover.fit.world import current_world
from discover.workflows.hbv import HBVWorkflow

CASES = [
    (learner, batch, split)
    for learner in ("attributes", "site", "lstm")
    for batch, split in [(None, "train"), (None, "test")]
]


def _workflow(learner: str, batch: dict | None) -> HBVWorkflow:
    lstm = {"dynamic": ["beta"], "lstm_hidden": 8} if learner == "lstm" else {}
    config = {
        "seed": 0,
        "data": {"source": "twin", "sites": 5, "days": 400},
        "model": {"type": "hbv", "warmup": 100, "nmul": 2, "parameters": learner, **lstm},
        "train": {"split": 0.7, "batch": batch and {**batch, "warmup": 100}},
    }
    torch.manual_seed(0)
    workflow = HBVWorkflow(parse_config(config), Path("."))
    workflow.hide_sites([1])
    return workflow


def _loss_and_gradient(learner: str, batch: dict | None, split: str):
    workflow = _workflow(learner, batch)
    loss = workflow.loss(split, torch.Generator().manual_seed(5))
    loss.backward()
    current_world().average_gradients(workflow.parameters())
    grads = [torch.zeros_like(p) if p.grad is None else p.grad for p in workflow.parameters()]
    return float(loss.detach()), grads


def check_every_case() -> None:
    """Raise if a shared loss or gradient differs from one process's."""
    for case in CASES:
        value, grads = _loss_and_gradient(*case)
        shared, theirs = run_data_parallel(_worker, world_size=2, threads=1, args=case)
        assert shared == pytest.approx(value, rel=1e-12), case
        for mine, other in zip(grads, theirs, strict=True):
            assert torch.allclose(mine, other, rtol=1e-9, atol=1e-12), case


def _worker(rank: int, size: int, *case: object):
    return _loss_and_gradient(*case)


@pytest.mark.slow
def test_shared_hbv_losses_equal_one_process():
    # a fresh interpreter runs this file, so that spawned processes can import its functions
    result = subprocess.run([sys.executable, __file__], capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]


if __name__ == "__main__":
    check_every_case()
