"""When the searches of :func:`discover.fit.calibration.calibrate` stop, and the precision
of their simulations (``train.calibration.precision``).

A search that trails the best of the others by more than it gained over the last
``patience`` generations stops; one that trails by less, or leads, runs on. Searches in
float32 keep the order of the members' float64 losses but for near-ties.
"""

from __future__ import annotations

import pytest
import torch

from discover.fit.calibration import CalibrationConfig, calibrate
from discover.fit.population import PopulationLoss
from tests.hbv.test_calibration import twin_workflow, with_power_law

POPULATION = 4


def two_searches(monkeypatch, lead: float, trail: float, gain: float) -> list[int]:
    """Generations each of two searches runs when search 0's members all score
    ``lead − 0.01·g`` and search 1's ``trail − gain·g`` in generation ``g`` (the losses
    stubbed; both fall by more than the tolerance over ``patience`` generations)."""
    calls: list[None] = []

    def losses(self, points):
        calls.append(None)
        generation = len(calls) - 1  # call 0 scores the start
        out = torch.full((points.shape[0], self.sites), trail - gain * generation)
        out[:POPULATION] = lead - 0.01 * generation  # search 0, first in every batch
        return out.double()

    monkeypatch.setattr(PopulationLoss, "losses", losses)
    settings = CalibrationConfig(population=POPULATION, generations=30, parameters=["uzl", "k0"])
    return calibrate(twin_workflow(), settings).search_generations


def test_a_search_that_cannot_catch_up_stops(monkeypatch):
    """Behind by 0.4 + 0.005·g while gaining 0.05 per 10 generations: it stops as soon as
    ``patience`` generations can be judged; the leader runs the whole budget."""
    assert two_searches(monkeypatch, 0.5, 0.9, 0.005) == [30, 11]


def test_a_search_close_behind_runs_on(monkeypatch):
    """Behind by 0.02 while gaining 0.1 per 10 generations, as the leader: it may still
    catch up, and runs the whole budget as the leader does."""
    assert two_searches(monkeypatch, 0.5, 0.52, 0.01) == [30, 30]


def test_float32_runs_keep_the_order_of_the_members():
    """On a twin with a symbolic ET slot (2 sites), float32 losses differ from float64 ones
    by far less than any stopping tolerance, and members whose float64 losses differ by
    more than that order alike; the float64 run is the workflow's own training loss."""
    workflow = twin_workflow(sites=2)
    with_power_law(workflow)
    exact = PopulationLoss(workflow)
    single = PopulationLoss(workflow, dtype=torch.float32)
    generator = torch.Generator().manual_seed(3)
    points = torch.rand(64, 2, exact.dim, generator=generator, dtype=torch.float64)
    points[:, 1, exact.site_dim :] = points[:, 0, exact.site_dim :]  # shared constant
    precise, rounded = exact.losses(points), single.losses(points)
    assert rounded.dtype == torch.float64 and precise.std() > 0.01
    assert float((rounded - precise).abs().max()) < 1e-5
    apart = (precise[:, None] - precise[None]).abs() > 1e-5  # [member, member, site]
    same = (precise[:, None] < precise[None]) == (rounded[:, None] < rounded[None])
    assert bool(same[apart].all())


@pytest.mark.parametrize("precision", ["float32", "model"])
def test_the_result_is_scored_in_the_models_dtype(precision):
    workflow = twin_workflow()
    settings = CalibrationConfig(
        population=8, generations=5, parameters=["uzl", "k0"], precision=precision
    )
    result = calibrate(workflow, settings, seed=0)
    with torch.no_grad():
        assert result.search_loss == float(workflow.loss("train"))
