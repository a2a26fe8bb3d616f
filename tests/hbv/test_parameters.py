"""Parameter learners: bounds by construction, shapes, starting values, gradients."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from discover.config import parse_config
from discover.models.hbv import HBV
from discover.models.hbv_processes import HBV_BOUNDS
from discover.models.parameters import (
    AttributeMLP,
    ForcingLSTM,
    SiteParameters,
    _Standardise,
    denormals_flushed,
)
from discover.workflows.hbv import HBVWorkflow


def _inside_bounds(values: dict) -> bool:
    return all(
        bool((v >= HBV_BOUNDS[n].low).all() and (v <= HBV_BOUNDS[n].high).all())
        for n, v in values.items()
    )


def test_attribute_mlp_gives_static_parameters_within_bounds():
    names = HBV().parameter_names()
    learner = AttributeMLP(4, names, nmul=3, hidden=(8,))
    attributes = torch.randn(6, 4) * 100 + 50
    learner.set_normalisation(attributes)
    with torch.no_grad():
        learner.network[-1].bias.fill_(30.0)  # saturate: values must still be in bounds
    values = learner(attributes)
    assert set(values) == set(names)
    assert all(v.shape == (6, 3) for v in values.values())
    assert _inside_bounds(values)
    assert torch.allclose(values["fc"], torch.full((6, 3), HBV_BOUNDS["fc"].high))


def test_forcing_lstm_gives_dynamic_and_static_parameters():
    names = HBV().parameter_names()
    learner = ForcingLSTM(3, names, nmul=2, hidden=8, dynamic=["beta", "k0"])
    inputs = torch.randn(20, 5, 3)
    learner.set_normalisation(inputs)
    values = learner(inputs)
    assert values["beta"].shape == (20, 5, 2) and values["k0"].shape == (20, 5, 2)
    assert values["fc"].shape == (5, 2)
    assert _inside_bounds(values)
    with pytest.raises(KeyError, match="gamma"):
        ForcingLSTM(3, names, dynamic=["gamma"])


def test_site_parameters_start_where_asked_and_train_the_model(weather_maker):
    model = HBV()
    names = model.parameter_names()
    calibration = SiteParameters(2, names, nmul=2, initial={"fc": 300.0, "k1": 0.1})
    values = calibration()
    assert torch.allclose(values["fc"], torch.full((2, 2), 300.0))
    assert torch.allclose(values["k1"], torch.full((2, 2), 0.1))
    bound = HBV_BOUNDS["beta"]
    middle = torch.full((2,), (bound.low + bound.high) / 2)  # the two sets straddle it
    assert torch.allclose(values["beta"].mean(-1), middle) and values["beta"].std(-1).min() > 1
    forcings = {k: v.float() for k, v in weather_maker(60, 2, seed=1).items()}
    model(forcings, values).streamflow.sum().backward()
    assert calibration.raw.grad is not None and float(calibration.raw.grad.abs().sum()) > 0


def _shares(values: dict) -> dict:
    """Each parameter's position within its bounds, in [0, 1]."""
    return {
        n: (v - HBV_BOUNDS[n].low) / (HBV_BOUNDS[n].high - HBV_BOUNDS[n].low)
        for n, v in values.items()
    }


def test_parallel_site_parameter_sets_start_spread_over_the_bounds():
    names = HBV().parameter_names()
    shares = _shares(SiteParameters(3, names, nmul=4, seed=5)())
    slices = torch.tensor([0.125, 0.375, 0.625, 0.875])
    for name, share in shares.items():  # per site, one set in each quarter of the range
        assert torch.allclose(share.sort(-1).values, slices.expand(3, 4), atol=1e-5), name
    orders = torch.stack([share.argsort(-1) for share in shares.values()])
    assert len({tuple(o.flatten().tolist()) for o in orders}) > 1  # orders differ by parameter
    again = _shares(SiteParameters(3, names, nmul=4, seed=5)())
    other = _shares(SiteParameters(3, names, nmul=4, seed=6)())
    assert all(torch.equal(shares[n], again[n]) for n in names)
    assert not all(torch.equal(shares[n], other[n]) for n in names)
    single = _shares(SiteParameters(3, names)())
    assert all(torch.allclose(v, torch.full((3, 1), 0.5)) for v in single.values())
    fixed = SiteParameters(3, names, nmul=4, initial={"fc": 300.0})()
    assert torch.allclose(fixed["fc"], torch.full((3, 4), 300.0))


def test_attribute_mlp_parameter_sets_start_spread_over_the_bounds():
    names = HBV().parameter_names()
    torch.manual_seed(0)  # attributes and weights, whatever other tests drew before
    attributes = torch.randn(5, 3)
    learner = AttributeMLP(3, names, nmul=4, hidden=(8,), seed=1)
    learner.set_normalisation(attributes)
    with torch.no_grad():
        shares = _shares(learner(attributes))
    for name, share in shares.items():  # sets keep apart across the range at every site
        spread = share.max(-1).values - share.min(-1).values
        assert bool((spread > 0.5).all()), name
    torch.manual_seed(0)
    plain = AttributeMLP(3, names, hidden=(8,))
    torch.manual_seed(0)
    seeded = AttributeMLP(3, names, hidden=(8,), seed=7)
    assert torch.equal(plain.network[-1].bias, seeded.network[-1].bias)  # one set: untouched


def test_model_output_is_the_mean_of_the_parameter_sets(weather_maker):
    model = HBV()
    sets = {n: v.double() for n, v in SiteParameters(2, model.parameter_names(), nmul=3)().items()}
    forcings = weather_maker(90, 2, seed=2)
    together = model(forcings, sets).streamflow
    alone = [model(forcings, {n: v[:, j] for n, v in sets.items()}).streamflow for j in range(3)]
    assert not torch.allclose(alone[0], alone[1])
    assert torch.allclose(together, torch.stack(alone).mean(0))


def test_bad_learner_settings_are_named():
    with pytest.raises(KeyError, match="theta"):
        AttributeMLP(2, ["fc", "theta"])
    with pytest.raises(ValueError, match="not strictly inside"):
        SiteParameters(1, ["fc"], initial={"fc": 5000.0})
    learner = AttributeMLP(2, ["fc"])
    with pytest.raises(ValueError, match="attributes"):
        learner(torch.ones(3, 5))
    with pytest.raises(ValueError, match="NaN"):
        learner(torch.full((3, 2), float("nan")))


@pytest.mark.parametrize("learning", ["site", "attributes", "lstm"])
def test_study_parameter_sets_start_apart_and_follow_the_seed(learning):
    def start(seed: int) -> dict:
        config = {
            "seed": seed,
            "data": {"source": "twin", "sites": 3, "days": 60},
            "model": {"type": "hbv", "warmup": 10, "nmul": 3, "parameters": learning},
            "train": {"split": 0.5},
        }
        torch.manual_seed(seed)  # as a Study does before it builds the workflow
        with torch.no_grad():
            return _shares(HBVWorkflow(parse_config(config), Path(".")).parameters_by_name())

    shares = start(seed=0)
    for name, share in shares.items():
        assert bool((share.max(-1).values - share.min(-1).values > 0.4).all()), name
    again, other = start(seed=0), start(seed=1)
    assert all(torch.equal(shares[n], again[n]) for n in shares)
    assert not all(torch.allclose(shares[n], other[n]) for n in shares)


def test_denormals_are_flushed_only_inside_the_context():
    # an LSTM's gradient decays through denormals over a long window, which x86 CPUs
    # compute on many times slower; the trainer flushes them while it trains an LSTM,
    # and leaves the process's numerics as they were afterwards
    tiny = torch.tensor([1e-30], dtype=torch.float32)
    with denormals_flushed():
        flushed = float((tiny * 1e-10)[0])
    kept = float((tiny * 1e-10)[0])
    assert kept > 0.0  # 1e-40 is a denormal in float32, kept by default
    if flushed != 0.0:
        pytest.skip("this CPU cannot flush denormal numbers")
    with denormals_flushed(False):
        assert float((tiny * 1e-10)[0]) > 0.0


def test_forcing_lstm_gives_each_day_of_the_dynamic_parameters_the_last_of_the_others():
    names = HBV().parameter_names()
    learner = ForcingLSTM(3, names, nmul=2, hidden=8, dynamic=["k0", "beta"], n_static=2)
    inputs, static = torch.randn(20, 5, 3), torch.randn(5, 2)
    learner.set_normalisation(inputs, static)
    values = learner(inputs, static)
    repeated = learner.normalise_static(static).expand(20, -1, -1)
    hidden, _ = learner.lstm(torch.cat([learner.normalise(inputs), repeated], -1))
    every_day = learner.bounded.scale(learner.head(hidden))  # every name on every day
    assert list(values) == list(names)
    for name, value in values.items():
        expected = every_day[name] if name in ("k0", "beta") else every_day[name][-1]
        torch.testing.assert_close(value, expected)


def test_standardisation_takes_nan_aware_moments_of_each_column():
    rng = np.random.default_rng(3)
    x = rng.normal([1.0, -50.0, 1e4, 7.0], [0.1, 3.0, 2e3, 0.0], size=(400, 9, 4))
    x[rng.random(x.shape) < 0.2] = np.nan
    standardise = _Standardise(4).double()
    standardise.fit(torch.as_tensor(x))
    flat = x.reshape(-1, 4)
    np.testing.assert_allclose(standardise.loc.numpy(), np.nanmean(flat, 0), rtol=1e-12)
    expected = np.nanstd(flat, 0)
    expected[expected == 0] = 1.0  # a constant column is kept as it is
    np.testing.assert_allclose(standardise.scale.numpy(), expected, rtol=1e-12)
