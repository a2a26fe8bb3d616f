"""A population's losses take shortcuts that a training run does not (inference mode, the
streamflow alone, a floored softplus; discover.fit.population) and must score what
training scores all the same; a calibration in the model's dtype takes its search's loss
instead of simulating the kept point again."""

from __future__ import annotations

import pytest
import torch

from discover.fit import population
from discover.fit.calibration import CalibrationConfig, calibrate
from discover.fit.population import PopulationLoss
from discover.models.hbv import HBV, STEP_FLUXES
from discover.models.hbv_processes import SOFTPLUS_FLOOR, _number, ramp, textbook
from tests.hbv.test_calibration import twin_workflow


def smoothed_twin():
    """The calibration twin with threshold smoothing 1 mm (softplus in every spill)."""
    workflow = twin_workflow()
    workflow.model.smooth = 1.0
    for name in ("snowmelt", "refreeze", "quickflow"):
        workflow.model.set_slot(name, textbook(name, smooth=1.0))
    return workflow


def test_inference_mode_members_score_the_training_loss_with_gradients():
    workflow = smoothed_twin()
    objective = PopulationLoss(workflow)
    generator = torch.Generator().manual_seed(2)
    points = torch.rand(4, 1, objective.dim, generator=generator, dtype=torch.float64)
    _number.cache_clear()  # the numbers the run caches are made under inference mode
    batched = objective.total(objective.losses(points))
    assert not batched.is_inference() and batched.std() > 0
    for member in range(4):
        objective.apply(points[member])
        train = workflow.loss("train")
        train.backward()  # no inference tensor cached by the population's run
        assert workflow.learner.raw.grad.abs().sum() > 0
        workflow.learner.raw.grad = None
        torch.testing.assert_close(batched[member], train.detach(), rtol=1e-12, atol=0.0)


def test_a_streamflow_only_run_gives_the_streamflow_of_a_full_one(weather_maker, parameter_maker):
    model = HBV(smooth=0.5, capillary=True)
    forcings = weather_maker(150, 2, seed=4)
    parameters = parameter_maker(model.parameter_names(), 2, 3, seed=4)
    full = model(forcings, parameters, warmup=20)
    lean = model(forcings, parameters, warmup=20, streamflow_only=True)
    assert torch.equal(full.streamflow, lean.streamflow)
    assert not lean.fluxes and not lean.states and len(full.fluxes) == len(STEP_FLUXES) + 3
    for name, value in full.initial_states.items():
        assert torch.equal(value, lean.initial_states[name])
    assert full.streamflow.abs().sum() > 0


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_ramp_is_floored_in_inference_mode_alone(dtype):
    x = torch.linspace(-1000.0, 40.0, 10401, dtype=dtype)
    exact = torch.nn.functional.softplus(x)
    with torch.inference_mode():
        floored = ramp(x, 1.0)
        scaled = ramp(x, 0.5)
    above = x >= SOFTPLUS_FLOOR
    assert torch.equal(floored[above], exact[above])
    assert bool((floored[~above] > exact[~above]).all())  # the floor's own value
    assert float((floored - exact).abs().max()) < 5e-18
    assert float((scaled - 0.5 * torch.nn.functional.softplus(x / 0.5)).abs().max()) < 5e-18
    assert torch.equal(ramp(x, 1.0), exact)  # outside inference mode: exact


@pytest.mark.parametrize("precision, evaluations", [("model", 0), ("float32", 1)])
def test_the_kept_point_is_simulated_again_only_when_the_search_was_not_exact(
    monkeypatch, precision, evaluations
):
    workflow = twin_workflow()
    settings = CalibrationConfig(
        population=8, generations=3, tolerance=0, precision=precision, polish_steps=0
    )
    calls = []
    original = type(workflow).loss
    monkeypatch.setattr(
        type(workflow), "loss", lambda self, *a, **k: calls.append(a) or original(self, *a, **k)
    )
    result = calibrate(workflow, settings, seed=0)
    assert len(calls) == evaluations
    with torch.no_grad():
        reference = float(original(workflow, "train"))
    tolerance = 1e-12 if precision == "model" else 1e-6
    assert result.search_loss == pytest.approx(reference, rel=tolerance)
    assert result.search_loss == pytest.approx(result.history[-1], rel=tolerance)


def test_a_population_too_large_for_one_run_is_run_in_chunks_with_the_same_losses(monkeypatch):
    objective = PopulationLoss(smoothed_twin())
    generator = torch.Generator().manual_seed(3)
    points = torch.rand(7, 1, objective.dim, generator=generator, dtype=torch.float64)
    whole = objective.losses(points)
    per_member = population.VALUES_PER_CELL * 8 * objective.end  # one site, nmul 1, float64
    monkeypatch.setattr(population, "RUN_BYTES", 3 * per_member)
    assert objective.members_per_run() == 3
    # equal up to the rounding of sums whose vectorisation depends on the batch width
    torch.testing.assert_close(objective.losses(points), whole, rtol=1e-12, atol=0.0)
