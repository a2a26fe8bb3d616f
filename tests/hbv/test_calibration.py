"""Population calibration of HBV (discover.fit.calibration, discover.fit.population).

The planted twin has every parameter at the middle of its range, the default start of
per-site calibration, except a slow upper zone (``fc``, ``perc``, ``k1``) that fills
above the quick-flow threshold ``uzl`` (8 mm, start 50 mm), emptied at ``k0`` (0.6/day,
start 0.475/day). With hard thresholds the start's upper zone never reaches 50 mm, so
``uzl`` and ``k0`` have exactly zero gradient there and Adam never moves them; the
population search must find them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from discover.config import StudyConfig
from discover.fit.calibration import CalibrationConfig, SearchScale, calibrate
from discover.fit.population import CalibrationError, PopulationLoss
from discover.fit.trainer import Trainer
from discover.models.hbv_processes import HBV_BOUNDS
from discover.processes import Symbolic
from discover.workflows.hbv import HBVWorkflow

THRESHOLD = {"uzl": 8.0, "k0": 0.6}
SLOW_UPPER_ZONE = {"fc": 100.0, "perc": 0.5, "k1": 0.03}


def mid_range_planted(values: dict[str, float]) -> dict[str, str]:
    """A twin's planted parameters (``data.planted``): every parameter of the textbook HBV
    at the middle of its range, the default start of per-site calibration, but ``values``."""
    planted = {name: str((b.low + b.high) / 2) for name, b in HBV_BOUNDS.items()}
    planted |= {name: str(value) for name, value in values.items()}
    planted.pop("betaet")  # not used by the textbook slots
    planted.pop("kcap")  # nor by a model without capillary rise
    return planted


def twin_workflow(sites: int = 1, parameters: str = "site") -> HBVWorkflow:
    """A small float64 twin (500 days; the 250 of warm-up undo the twin's own spin-up):
    mid-range parameters except :data:`THRESHOLD` and :data:`SLOW_UPPER_ZONE`, to be
    calibrated per site from the default (mid-range) start."""
    planted = mid_range_planted(THRESHOLD | SLOW_UPPER_ZONE)
    config = StudyConfig.model_validate(
        {
            "name": "calibration",
            "seed": 0,
            "dtype": "float64",
            "data": {"source": "twin", "sites": sites, "days": 500, "planted": planted},
            "model": {"type": "hbv", "warmup": 250, "parameters": parameters},
            "train": {"split": 0.9, "iterations": 5, "lr": 0.05, "schedule": "none"},
        }
    )
    torch.manual_seed(0)
    return HBVWorkflow(config, Path("."))


def value(workflow: HBVWorkflow, name: str) -> torch.Tensor:
    """Parameter ``name`` per site [site]."""
    return workflow.parameters_by_name()[name].detach()[:, 0]


def test_search_recovers_the_threshold_that_adam_cannot_move():
    adam = twin_workflow()
    loss = adam.loss("train")
    loss.backward()
    gradient = adam.learner.raw.grad.reshape(-1)
    names = adam.learner.bounded.names
    assert all(float(gradient[names.index(n)]) == 0.0 for n in THRESHOLD)
    Trainer(adam, adam.loss, adam.config.train, progress=False).fit()
    assert float(value(adam, "uzl")[0]) == pytest.approx(50.0)  # stays at the start
    assert float(value(adam, "k0")[0]) == pytest.approx(0.475)

    found = twin_workflow(sites=2)
    searched = [*THRESHOLD, *SLOW_UPPER_ZONE]  # the others are planted at the start
    settings = CalibrationConfig(
        population=12, generations=60, tolerance=0, parameters=searched, polish_steps=0
    )
    result = calibrate(found, settings, seed=0)
    with torch.no_grad():
        assert result.loss < 1e-3 < float(adam.loss("train"))
        assert result.search_loss == pytest.approx(float(found.loss("train")), rel=1e-9)
    for site in range(2):  # each site found on its own
        assert float(value(found, "uzl")[site]) == pytest.approx(THRESHOLD["uzl"], abs=1.5)
        assert float(value(found, "k0")[site]) == pytest.approx(THRESHOLD["k0"], abs=0.1)


def test_batched_population_gives_each_member_its_own_loss():
    workflow = twin_workflow(sites=2)
    with_power_law(workflow)
    objective = PopulationLoss(workflow)
    assert objective.dim == objective.site_dim + 1
    generator = torch.Generator().manual_seed(1)
    points = torch.rand(4, 2, objective.dim, generator=generator, dtype=torch.float64)
    points[:, 1, -1] = points[:, 0, -1]  # a member's constant is shared by its sites
    batched = objective.losses(points)
    for member in range(4):
        alone = objective.losses(points[member : member + 1])[0]
        torch.testing.assert_close(batched[member], alone, rtol=1e-12, atol=0.0)
        objective.apply(points[member])
        with torch.no_grad():
            whole = workflow.loss("train")
        torch.testing.assert_close(
            objective.total(batched)[member], whole.double(), rtol=1e-12, atol=0.0
        )
    assert batched.std(0).min() > 0  # the members differ


def with_power_law(workflow: HBVWorkflow) -> Symbolic:
    """Put ``pet*soil_wetness**b`` (b from 0.5) in the evapotranspiration slot."""
    et = Symbolic("pet*soil_wetness**b", ["pet", "soil_wetness"], {"b": 0.5}, ">=0")
    workflow.model.set_slot("evapotranspiration", et.to(torch.float64))
    return et


def test_search_stays_within_bounds(monkeypatch):
    workflow = twin_workflow(sites=2)
    et = with_power_law(workflow)  # one constant shared by both sites
    seen: list[torch.Tensor] = []
    losses = PopulationLoss.losses

    def spy(self, points):
        seen.append(points)
        return losses(self, points)

    monkeypatch.setattr(PopulationLoss, "losses", spy)
    settings = CalibrationConfig(population=8, generations=5, sigma=0.5, polish_steps=1)
    result = calibrate(workflow, settings, seed=3)
    points = torch.cat([p.reshape(-1) for p in seen])
    assert float(points.min()) >= 0.0 and float(points.max()) <= 1.0
    assert float(points.min()) < 0.05 and float(points.max()) > 0.95  # the box was explored
    for name, parameter in workflow.parameters_by_name().items():
        parameter = parameter.detach()
        bound = HBV_BOUNDS[name]
        assert bound.low <= float(parameter.min()) <= float(parameter.max()) <= bound.high
    assert result.evaluations == 2 + 2 * 8 * sum(result.search_generations)
    assert result.loss <= result.search_loss
    assert et.module.constants.shape == (1,) and bool(torch.isfinite(et.module.constants))


def test_disabled_calibration_leaves_the_model_alone():
    workflow = twin_workflow()
    before = workflow.learner.raw.detach().clone()
    result = calibrate(workflow, CalibrationConfig(enabled=False))
    assert result.evaluations == 0
    assert torch.equal(workflow.learner.raw.detach(), before)


def test_parameters_from_attributes_are_refused():
    with pytest.raises(CalibrationError, match="model.parameters: site"):
        calibrate(twin_workflow(parameters="attributes"), CalibrationConfig())


def test_unknown_setting_or_parameter_is_refused():
    with pytest.raises(ValueError, match="populaton"):
        CalibrationConfig.model_validate({"populaton": 8})
    settings = CalibrationConfig(parameters=["uzl", "betaet"])
    with pytest.raises(CalibrationError, match=r"parameters: \['betaet'\]"):
        calibrate(twin_workflow(), settings)


def test_search_scale_is_geometric_for_wide_positive_ranges_only():
    workflow = twin_workflow()
    with_power_law(workflow)
    objective = PopulationLoss(workflow)
    names = objective.learner.bounded.names
    scale = SearchScale.of(objective, log_scale=True)
    geometric = {name for i, name in enumerate(names) if scale.ratio[i] > 1}
    assert {"k1", "k2", "fc", "cfmax"} <= geometric
    assert not {"uzl", "perc", "beta", "lp", "tt"} & geometric  # low <= 0 or a narrow range
    assert scale.ratio[-1] == 1  # the symbolic constant stays linear
    assert (SearchScale.of(objective, log_scale=False).ratio == 1).all()
    # the middle of the search is the geometric middle of k2's range
    z = np.full((1, objective.dim), 0.5)
    shares = scale.to_shares(z, np.arange(objective.dim))
    k2 = HBV_BOUNDS["k2"]
    value = k2.low + shares[0, names.index("k2")] * (k2.high - k2.low)
    assert value == pytest.approx((k2.low * k2.high) ** 0.5)
    # shares and coordinates map onto each other, the box onto itself
    points = np.random.default_rng(0).uniform(size=(5, objective.dim))
    back = scale.to_shares(scale.from_shares(points), np.arange(objective.dim))
    np.testing.assert_allclose(back, points, rtol=0, atol=1e-12)
    edges = scale.to_shares(
        np.array([[0.0] * objective.dim, [1.0] * objective.dim]), np.arange(objective.dim)
    )
    assert edges[0].max() == 0.0 and edges[1].max() <= 1.0
    assert edges[1].min() == pytest.approx(1.0)


@pytest.mark.parametrize("level", [0.9, 0.05])
def test_search_stops_when_the_best_loss_falls_by_less_than_the_tolerance(monkeypatch, level):
    """A loss falling by 0.0002 per generation stalls ``patience`` generations after the
    search's first (0.002 < 0.003 over 10), one falling by 0.001 per generation runs the
    whole budget; the rule is absolute (in units of NSE), so the same holds at NSE 0.1 and
    at NSE 0.95."""
    workflow = twin_workflow()
    calls = []

    def falling(step):
        def losses(self, points):
            calls.append(None)
            return torch.full((points.shape[0], self.sites), level - step * len(calls))

        return losses

    settings = CalibrationConfig(population=4, generations=30, parameters=["uzl", "k0"])
    assert (settings.tolerance, settings.patience) == (0.003, 10)  # the defaults
    monkeypatch.setattr(PopulationLoss, "losses", falling(0.0002))
    assert calibrate(workflow, settings).generations == settings.patience + 1
    monkeypatch.setattr(PopulationLoss, "losses", falling(0.001))
    assert calibrate(workflow, settings).generations == settings.generations


def start_at(workflow: HBVWorkflow, values: dict[str, float]) -> None:
    """Set the workflow's parameters ``values`` (physical units) at every site."""
    bounded = workflow.learner.bounded
    with torch.no_grad():
        for name, wanted in values.items():
            bound = bounded.bounds[name]
            share = (wanted - bound.low) / (bound.high - bound.low)
            workflow.learner.raw[:, bounded.names.index(name)] = torch.logit(
                torch.tensor(share, dtype=torch.float64)
            )


def test_search_from_the_optimum_keeps_it_and_stops_early():
    """Started at the twin's planted parameters, the default searches find nothing better,
    so one local search follows (``LOCAL_STEP``), which finds nothing better either: the
    planted values are kept, long before the budget."""
    workflow = twin_workflow()
    planted = THRESHOLD | SLOW_UPPER_ZONE
    start_at(workflow, planted)
    with torch.no_grad():
        start = float(workflow.loss("train"))
    settings = CalibrationConfig(population=8, parameters=list(planted))
    result = calibrate(workflow, settings, seed=0)
    assert result.generations < 4 * settings.patience < settings.generations
    assert len(result.search_losses) == settings.searches + 1  # the local one
    assert result.search_loss == start
    for name, wanted in planted.items():
        assert float(value(workflow, name)[0]) == pytest.approx(wanted, rel=1e-6)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_search_from_a_good_start_runs_until_its_own_members_stop_improving(seed):
    """From parameters 10 % above the planted ones (loss ≈ 0.016) the first generations'
    members, drawn with ``sigma`` 0.25 around the start, are all worse than the start; a
    rule judged on the best point found, the start included, would stop after
    ``patience`` generations with the start (seed 0). Judged on the search's own members,
    the search converges and improves on the start."""
    workflow = twin_workflow()
    planted = THRESHOLD | SLOW_UPPER_ZONE
    start_at(workflow, {name: 1.1 * wanted for name, wanted in planted.items()})
    with torch.no_grad():
        start = float(workflow.loss("train"))
    settings = CalibrationConfig(population=8, parameters=list(planted))
    result = calibrate(workflow, settings, seed=seed)
    assert result.search_loss < start / 3
    assert len(result.search_losses) == settings.searches  # no local search needed
