"""Probing a hybrid model's neural slots, and thinning that keeps the range covered."""

import numpy as np
import pytest
import torch

from discover.distill.probe import probe
from discover.distill.sampling import thin
from discover.models.base import HybridModel
from discover.processes import Neural, Physical


class TwoSlots(HybridModel):
    """A toy model: recharge = neural(s, p), loss = physical(s)."""

    def __init__(self):
        super().__init__({"recharge": ["s", "p"], "evaporation": ["s"]})
        self.set_slot("recharge", Neural(["s", "p"], "[0, 1]"))
        self.set_slot("evaporation", Physical(lambda s: 0.1 * s, ["s"]))

    def forward(self, s: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        inputs = {"s": s, "p": p}
        return self.slots["recharge"](inputs) - self.slots["evaporation"](inputs)


def test_probe_records_inputs_and_outputs_of_neural_slots():
    torch.manual_seed(0)
    model = TwoSlots()
    s, p = torch.rand(30, 4), torch.rand(30, 4)
    samples = probe(model, lambda: model(s, p))
    assert list(samples) == ["recharge"]
    X, y, names = samples["recharge"]
    assert names == ("s", "p") and X.shape == (120, 2) and y.shape == (120,)
    np.testing.assert_allclose(X[:, 0], s.reshape(-1).numpy(), rtol=1e-6)
    expected = model.slots["recharge"]({"s": s, "p": p}).detach().reshape(-1).numpy()
    np.testing.assert_allclose(y, expected, rtol=1e-5)
    assert model.slots["recharge"]._records is None  # recording stopped


def test_probe_thins_and_stops_recording_when_the_run_fails():
    model = TwoSlots()
    s = torch.rand(100, 5)
    thinned = probe(model, lambda: model(s, s), size=50)
    assert thinned["recharge"].X.shape == (50, 2)

    def broken():
        model(s, s)
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        probe(model, broken)
    assert model.slots["recharge"]._records is None
    with pytest.raises(KeyError, match="snowmelt"):
        probe(model, lambda: None, slots=["snowmelt"])


def test_thinning_covers_the_range_better_than_a_random_subsample():
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(0, 1, (20000, 2)), rng.uniform(-8, 8, (200, 2))])
    y = X[:, 0] ** 2
    keep = thin(X, y, 500, seed=1)
    random = rng.choice(len(X), 500, replace=False)

    def occupied(index):  # cells of a 16x16 grid over the full range that hold a sample
        cells = np.floor((X[index] + 8) / 1.0).astype(int)
        return len({tuple(c) for c in cells})

    assert len(keep) == 500 and len(set(keep)) == 500
    assert occupied(keep) > 2 * occupied(random)
    assert X[keep, 0].max() > 7 and X[keep, 0].min() < -7


def test_thinning_is_seeded_and_keeps_everything_when_small():
    X = np.random.default_rng(2).uniform(size=(1000, 3))
    np.testing.assert_array_equal(thin(X, None, 100, seed=4), thin(X, None, 100, seed=4))
    assert not np.array_equal(thin(X, None, 100, seed=4), thin(X, None, 100, seed=5))
    np.testing.assert_array_equal(thin(X[:50], None, 100), np.arange(50))
    with pytest.raises(ValueError, match="size"):
        thin(X, None, 0)
