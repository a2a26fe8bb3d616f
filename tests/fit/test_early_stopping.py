"""Early stopping counts the validation evaluations that do not lower the best validation
loss by more than ``train.min_improvement`` (loss units); the best weights are kept on
any improvement."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from discover.config import TrainConfig
from discover.fit.trainer import Trainer


class Level(nn.Module):
    """Fit a constant to noisy data around 1 from 0: validation on the last quarter."""

    def __init__(self):
        super().__init__()
        self.c = nn.Parameter(torch.zeros((), dtype=torch.float64))
        gen = torch.Generator().manual_seed(0)
        self.y = 1 + 0.1 * torch.randn(40, generator=gen, dtype=torch.float64)

    def loss(self, split: str, generator: torch.Generator | None) -> torch.Tensor:
        part = slice(0, 30) if split == "train" else slice(30, 40)
        return ((self.c - self.y[part]) ** 2).mean()


def fit(**settings) -> tuple[Level, list[dict[str, float]], str, int]:
    model = Level()
    base = {"iterations": 300, "lr": 0.02, "eval_every": 1, "validation": 0.25, "patience": 3}
    config = TrainConfig(**(base | settings))
    result = Trainer(model, model.loss, config, progress=False).fit()
    return model, result.history, result.stopped, result.best_iteration


@pytest.mark.parametrize("min_improvement", [1e-3, 1e-5])
def test_patience_counts_evaluations_that_improve_by_no_more_than_the_tolerance(
    min_improvement,
):
    _, every, stopped, _ = fit(patience=None)
    assert stopped == "iterations"
    losses = [row["validation"] for row in every]
    model, history, stopped, best = fit(min_improvement=min_improvement)
    stale, best_loss, end = 0, float("inf"), None
    for i, loss in enumerate(losses):
        stale = 0 if best_loss - loss > min_improvement else stale + 1
        best_loss = min(best_loss, loss)
        if stale == 3:
            end = i + 1
            break
    assert stopped == "early stopping" and len(history) == end < len(every)
    kept = min(range(end), key=lambda i: losses[i])
    assert best == kept + 1  # the best weights, even when they improved by less
    assert float(model.loss("validation", None).detach()) == pytest.approx(losses[kept])


def test_without_a_tolerance_any_improvement_resets_patience():
    _, shorter, _, _ = fit(min_improvement=1e-3)
    _, longer, _, _ = fit()
    assert len(longer) > len(shorter)
