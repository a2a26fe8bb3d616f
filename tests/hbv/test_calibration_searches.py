"""Independent CMA-ES searches side by side (``train.calibration.searches``).

On the planted twin of ``test_calibration.py`` (quick-flow threshold and slow upper zone
searched, the other parameters at their planted start), several searches per site share
each generation's batched forward pass; each is told only its own members' losses, stops
on its own, and the best member of all is kept.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from cmaes import CMA

from discover.fit.calibration import CalibrationConfig, calibrate
from discover.fit.population import PopulationLoss
from tests.hbv.test_calibration import SLOW_UPPER_ZONE, THRESHOLD, twin_workflow

SEARCHED = [*THRESHOLD, *SLOW_UPPER_ZONE]


def settings(searches: int) -> CalibrationConfig:
    """A small search: 8 members per search, at most 20 generations, stopped after 5
    generations without a gain of 0.003."""
    return CalibrationConfig(
        population=8, searches=searches, parameters=SEARCHED, generations=20, patience=5
    )


@pytest.mark.parametrize("seed", [0, 1])
def test_best_of_searches_is_never_worse_than_the_first_search_alone(seed):
    """Search 0 takes the same seed whatever the number of searches, so with three the
    best loss after every generation is at most that of search 0 run alone (up to the
    rounding of a member's loss, which depends on its place in the batch by ~1e-16)."""
    alone = calibrate(twin_workflow(), settings(1), seed=seed)
    three = calibrate(twin_workflow(), settings(3), seed=seed)
    assert three.search_loss <= alone.search_loss * (1 + 1e-12)
    common = min(len(alone.history), len(three.history))
    for a, b in zip(alone.history[:common], three.history[:common], strict=True):
        assert b <= a * (1 + 1e-12)


def test_searches_are_told_their_own_members_and_stop_on_their_own(monkeypatch):
    """Every CMA-ES instance is told exactly the points it asked for; the searches' first
    members differ (own seeds); the batch holds ``population`` members per running search
    and shrinks as searches stop; ``evaluations`` counts what was simulated."""
    asked: dict[int, list[np.ndarray]] = {}
    told: dict[int, list[np.ndarray]] = {}
    widths: list[int] = []
    ask, tell, losses = CMA.ask, CMA.tell, PopulationLoss.losses

    def spy_ask(self):
        point = ask(self)
        asked.setdefault(id(self), []).append(point)
        return point

    def spy_tell(self, solutions):
        told.setdefault(id(self), []).extend(x for x, _ in solutions)
        return tell(self, solutions)

    def spy_losses(self, points):
        widths.append(points.shape[0])
        return losses(self, points)

    monkeypatch.setattr(CMA, "ask", spy_ask)
    monkeypatch.setattr(CMA, "tell", spy_tell)
    monkeypatch.setattr(PopulationLoss, "losses", spy_losses)
    result = calibrate(twin_workflow(sites=2), settings(3), seed=0)
    assert len(asked) == 3 * 2  # a search per site and search
    for instance, points in asked.items():
        np.testing.assert_array_equal(np.stack(told[instance]), np.stack(points))
    firsts = [points[0] for points in asked.values()]
    assert len({tuple(p) for p in firsts}) == len(firsts)
    generations = widths[1:]  # widths[0]: the start
    assert generations[0] == 3 * 8 and all(w % 8 == 0 for w in generations)
    assert all(b <= a for a, b in zip(generations, generations[1:], strict=False))
    assert generations[-1] < generations[0]  # a search stopped before the last
    assert len(generations) == result.generations == max(result.search_generations)
    assert sum(generations) == 8 * sum(result.search_generations)
    # a site may take either search; the result is scored again by the workflow (rounding)
    assert result.search_loss <= min(result.search_losses) * (1 + 1e-12)
    assert result.evaluations == 2 * sum(widths)


def test_searches_are_deterministic_for_a_seed_and_differ_between_seeds():
    workflows = [twin_workflow() for _ in range(3)]
    runs = [calibrate(w, settings(2), seed=s) for w, s in zip(workflows, (4, 4, 5), strict=True)]
    assert runs[0].history == runs[1].history
    assert torch.equal(workflows[0].learner.raw, workflows[1].learner.raw)
    assert runs[0].history != runs[2].history
