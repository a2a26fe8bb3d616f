"""The L-BFGS stage ends when a step no longer lowers the training loss by
``train.lbfgs_tolerance`` (loss units)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from discover.config import TrainConfig
from discover.fit.trainer import Trainer


class Rosenbrock(nn.Module):
    """Rosenbrock's valley from (-1.2, 1), minimum 0 at (1, 1): L-BFGS needs a few steps
    of 20 iterations to reach it."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.tensor([-1.2, 1.0], dtype=torch.float64))

    def loss(self, split: str, generator: torch.Generator | None) -> torch.Tensor:
        x, y = self.w
        return (1 - x) ** 2 + 100 * (y - x**2) ** 2


def fit(**settings) -> tuple[Rosenbrock, list[float], str]:
    """One Adam step, then up to 40 L-BFGS steps: the model, the training loss at the
    start of each step and why training stopped."""
    model = Rosenbrock()
    config = TrainConfig(iterations=1, lr=1e-6, eval_every=1, lbfgs_iterations=40, **settings)
    result = Trainer(model, model.loss, config, progress=False).fit()
    return model, [row["train"] for row in result.history], result.stopped


def test_the_lbfgs_stage_ends_once_a_step_stops_lowering_the_loss():
    model, losses, stopped = fit()
    assert stopped == "converged" and len(losses) < 1 + 40
    falls = [a - b for a, b in zip(losses[1:-1], losses[2:], strict=True)]  # of each L-BFGS step
    assert falls[-1] < 1e-9 <= min(falls[:-1])
    assert float(model.loss("train", None).detach()) < 1e-6  # at the valley's floor


@pytest.mark.parametrize("tolerance", [1.0, 1e-3])
def test_the_tolerance_is_a_fall_of_the_training_loss(tolerance):
    _, every, stopped = fit(lbfgs_tolerance=0.0)
    assert stopped == "iterations" and len(every) == 1 + 40
    _, losses, stopped = fit(lbfgs_tolerance=tolerance)
    first = next(i for i in range(2, len(every)) if every[i - 1] - every[i] < tolerance)
    assert stopped == "converged" and losses == every[: first + 1]
