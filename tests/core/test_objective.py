"""The Objective: splits, scale, hidden sites and losses of any model, checked against
the same quantities computed by hand with numpy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from discover.config import load_config
from discover.config.stage_settings import BatchConfig
from discover.fit.batches import Batch
from discover.fit.objective import Objective
from discover.workflows.base import time_splits
from discover.workflows.ode import ODEWorkflow

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")  # numpy by hand, no data

SPLITS = time_splits(2, 14, 18)  # steps 0-1 warm-up, train [2, 14), validation, test [18, 24)


def _observed(seed: int = 0) -> np.ndarray:
    """Observations [24 time, 5 site, 2 variable] of different spreads, some missing,
    site 4 never observed."""
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(24, 5, 2)) * np.array([1.0, 10.0]) + rng.normal(size=(1, 5, 2))
    values[rng.random(values.shape) < 0.2] = np.nan
    values[:, 4] = np.nan
    return values


def _simulated(seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(24, 5, 2))


def _objective(per_site: bool, warmup: int = 2) -> tuple[Objective, list[tuple[int, int]]]:
    """An objective over :func:`_simulated` (as a model's run) and the runs it asked for."""
    simulated, runs = torch.as_tensor(_simulated()), []

    def run(batch: Batch, sites: torch.Tensor | slice) -> torch.Tensor:
        runs.append((batch.first, batch.end))
        return simulated[batch.first + batch.warmup : batch.end, sites]

    observed = _observed()
    return Objective(
        run, observed, SPLITS, per_site=per_site, dtype=torch.float64, warmup=warmup
    ), runs


def _by_hand(per_site: bool, part: slice, hidden: tuple[int, ...] = ()) -> float:
    observed, simulated = _observed(), _simulated()
    observed[:, list(hidden)] = np.nan
    if per_site:  # each site-variable column: its own sample spread, equal weights
        spread = np.nanstd(_observed()[2:18], axis=0, ddof=1)
        errors = ((simulated - observed) / spread)[part]
        return float(np.nanmean(np.nanmean(errors**2, axis=0)))
    spread = np.nanstd(_observed()[:18], axis=(0, 1))  # each variable, over sites and steps
    errors = ((simulated - observed) / spread)[part]
    return float(np.mean(np.nanmean(errors**2, axis=(0, 1))))


@pytest.mark.parametrize("per_site", [True, False])
def test_losses_on_every_split_are_the_scaled_errors_by_hand(per_site):
    objective, runs = _objective(per_site)
    for split, part in SPLITS.items():
        end = part.stop or 24
        assert float(objective.loss(split)) == pytest.approx(
            _by_hand(per_site, slice(part.start, end)), rel=1e-12
        )
        assert runs[-1] == (0, end)  # one run from the first step to the split's end
    assert objective.split_slices() == SPLITS
    with pytest.raises(ValueError, match="unknown split 'val'"):
        objective.loss("val")


@pytest.mark.parametrize("per_site", [True, False])
def test_hidden_sites_leave_every_loss_but_stay_observed(per_site):
    objective, _ = _objective(per_site)
    objective.hide_sites([1])
    objective.hide_sites([3])
    assert objective.hidden == [1, 3]
    assert float(objective.loss("train")) == pytest.approx(
        _by_hand(per_site, slice(2, 14), hidden=(1, 3)), rel=1e-12
    )
    np.testing.assert_array_equal(objective.observed, _observed())  # scores still see them
    assert objective.observed_sites("train").tolist() == [True, False, True, False, False]


def test_site_losses_of_members_average_to_the_training_loss():
    objective, _ = _objective(per_site=True)
    simulated = torch.as_tensor(_simulated())[2:14]  # the training steps
    shifted = simulated + 0.5
    columns = objective.site_losses(torch.cat([simulated, shifted], 1))  # two members
    losses = columns.reshape(2, 5)
    observed = objective.observed_sites("train")
    assert float(losses[0, observed].mean()) == pytest.approx(float(objective.loss("train")))
    assert (losses[1, observed] != losses[0, observed]).all()
    assert (losses[:, ~observed] == 0).all()


def test_a_training_loss_of_its_own_scores_the_training_split_only():
    objective, _ = _objective(per_site=False)
    validation = float(objective.loss("validation"))
    objective.score_training_by(lambda: torch.tensor(7.0))
    assert float(objective.loss("train")) == 7.0
    assert float(objective.loss("validation")) == validation


def test_gradients_reach_the_model_through_the_loss():
    rate = torch.tensor(0.3, requires_grad=True)

    def run(batch: Batch, sites: torch.Tensor | slice) -> torch.Tensor:
        steps = torch.arange(batch.first + batch.warmup, batch.end, dtype=torch.float64)
        return torch.exp(-rate * steps)[:, None, None].expand(-1, 5, 2)[:, sites]

    objective = Objective(run, _observed(), SPLITS, per_site=True, dtype=torch.float64)
    objective.loss("train").backward()
    assert rate.grad is not None and torch.isfinite(rate.grad) and rate.grad != 0


def test_a_checkpoint_saved_before_the_objective_still_loads(lv_case):
    config, write = lv_case
    workflow = ODEWorkflow(*load_config(write(config)))
    state = workflow.state_dict()
    assert not {"observations", "loss_scale"} & set(state)  # derived from the data
    legacy = {**state, "observations": workflow.observations, "loss_scale": workflow.loss_scale}
    workflow.load_state_dict(legacy)  # strict: the old buffers are dropped, not refused


def test_random_batches_draw_only_sites_the_loss_sees():
    seen_sites = []

    def run(batch: Batch, sites: torch.Tensor | slice) -> torch.Tensor:
        seen_sites.extend(int(s) for s in sites)
        assert SPLITS["train"].start <= batch.scored and batch.end <= SPLITS["train"].stop
        return torch.zeros(batch.end - batch.first - batch.warmup, len(sites), 2)

    batch = BatchConfig(sites=2, days=6, warmup=2)
    objective = Objective(run, _observed(), SPLITS, per_site=True, dtype=torch.float32, batch=batch)
    objective.hide_sites([0])
    generator = torch.Generator().manual_seed(0)
    for _ in range(20):
        assert torch.isfinite(objective.loss("train", generator))
    assert set(seen_sites) == {1, 2, 3}  # never the hidden site 0 nor site 4, unobserved
    assert objective.batches_per_epoch == -(-3 * 12 // (2 * 4))  # site-days / scored per batch
