"""A population search scores the training loss gradient training minimises, range
penalty included (discover.fit.population), and only a recorded simulation counts clips.

The planted twin: HBV with every parameter at the middle of its range but ``lp`` (0.2),
whose textbook evapotranspiration ``pet·min(1, SW/lp)`` is taken by the equation
``pet·(a + b·SW)`` in a slot ranged ``0 <= out <= pet``. The clip makes ``a = 0, b = 1/lp``
(1.7·PET before the clip at the wettest soil, SW 0.35) nearly the equation's best fit to
the streamflow: the search must not take it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from discover.config import StudyConfig
from discover.fit.population import PopulationLoss
from discover.models.hbv_processes import FORCINGS
from discover.processes import Symbolic
from discover.processes.symbolic import RangeExcess
from discover.stages.variants import Variants
from discover.workflows.hbv import HBVWorkflow
from tests.hbv.test_calibration import mid_range_planted

SLOT, RANGE = "evapotranspiration", "0 <= out <= pet"
DAYS, WARMUP = 500, 250


def twin(
    start: dict[str, float],
    equation: str = "pet*(a + b*soil_wetness)",
    sites: int = 1,
    lp: float = 0.2,
) -> HBVWorkflow:
    """A float64 HBV twin (mid-range parameters, its default start, but ``lp``) whose ET
    slot holds ``equation`` with constants from ``start``."""
    planted = mid_range_planted({"lp": lp})
    config = StudyConfig.model_validate(
        {
            "name": "population-range",
            "seed": 0,
            "dtype": "float64",
            "data": {"source": "twin", "sites": sites, "days": DAYS, "planted": planted},
            "model": {"type": "hbv", "warmup": WARMUP, "parameters": "site"},
            "train": {"split": 0.9, "iterations": 1, "schedule": "none"},
        }
    )
    torch.manual_seed(0)
    workflow = HBVWorkflow(config, Path("."))
    process = Symbolic(equation, ["pet", "soil_wetness"], start, RANGE)
    workflow.model.set_slot(SLOT, process.to(torch.float64))
    return workflow


def highest_share_of_pet(workflow: HBVWorkflow) -> float:
    """Largest unclipped ET/PET of the ET equation at the inputs of a simulation."""
    process = workflow.model.slots[SLOT]
    process.start_recording()
    with torch.no_grad():
        workflow.simulate()
        inputs = dict(zip(process.inputs, process.stop_recording()[0].T, strict=True))
        share = process.module(inputs) / inputs["pet"]
    return float(share[inputs["pet"] > 0].max())


@pytest.fixture
def no_penalty(monkeypatch):
    """A search without the range penalty (as before it was in the population's loss)."""
    monkeypatch.setattr(RangeExcess, "penalty", lambda self: 0.0)


def test_a_member_scores_the_workflow_training_loss_penalty_included(monkeypatch):
    workflow = twin({"a": 0.4, "b": 3.0})
    assert highest_share_of_pet(workflow) > 1.1  # out of range: the penalty counts
    objective = PopulationLoss(workflow)
    generator = torch.Generator().manual_seed(0)
    points = torch.rand(3, 1, objective.dim, generator=generator, dtype=torch.float64)
    points[0] = objective.current()  # the constants as made
    batched = objective.total(objective.losses(points))
    penalties = []
    for member in range(3):
        objective.apply(points[member])
        train = workflow.loss("train")  # with gradients, as training computes it
        with monkeypatch.context() as patch, torch.no_grad():
            patch.setattr(RangeExcess, "penalty", lambda self: 0.0)
            penalties.append(float(train.detach() - workflow.loss("train")))
        torch.testing.assert_close(batched[member], train.detach(), rtol=1e-12, atol=0.0)
    assert penalties[0] > 0 and max(penalties) > 0.1  # out of range: not the fit alone


def test_each_site_has_its_own_penalty_and_members_are_independent(monkeypatch):
    workflow = twin({"a": 0.4, "b": 3.0}, sites=2)
    objective = PopulationLoss(workflow)
    generator = torch.Generator().manual_seed(1)
    points = torch.rand(3, 2, objective.dim, generator=generator, dtype=torch.float64)
    points[:, 1, objective.site_dim :] = points[:, 0, objective.site_dim :]  # shared
    batched = objective.losses(points)
    with monkeypatch.context() as patch:
        patch.setattr(RangeExcess, "penalty", lambda self: 0.0)
        fits = objective.losses(points)
    for member in range(3):
        alone = objective.losses(points[member : member + 1])[0]
        torch.testing.assert_close(batched[member], alone, rtol=1e-12, atol=0.0)
        objective.apply(points[member])
        parameters = workflow.parameters_by_name()
        for site in range(2):  # the penalty of a run of this site alone
            forcings = {
                name: getattr(workflow, f"forcing_{name}")[: objective.end, site : site + 1]
                for name in FORCINGS
            }
            mine = {name: value[site : site + 1] for name, value in parameters.items()}
            with torch.no_grad(), RangeExcess() as excess:
                workflow.model(forcings, mine, warmup=workflow.warmup)
            penalty = batched[member, site] - fits[member, site]
            torch.testing.assert_close(
                penalty, torch.as_tensor(excess.penalty()), rtol=1e-12, atol=0.0
            )
    penalties = batched - fits
    assert float(penalties.max()) > 0.01  # some members leave the range
    assert float((penalties[:, 0] - penalties[:, 1]).abs().max()) > 1e-4  # not pooled


def test_the_search_is_steered_into_the_range(monkeypatch):
    """On a grid of the equation's constants (the HBV parameters at the twin's), the best
    member without the penalty leaves the range far; with it, it stays inside."""
    workflow = twin({"a": 0.2, "b": 2.0})  # a in [-0.2, 0.6], b in [-2, 6]
    objective = PopulationLoss(workflow)
    shares = torch.linspace(0.0, 1.0, 21, dtype=torch.float64)
    grid = torch.stack(torch.meshgrid(shares, shares, indexing="ij"), -1).reshape(-1, 2)
    points = objective.current().repeat(len(grid), 1, 1)
    points[:, 0, -2:] = grid

    def best(losses: torch.Tensor) -> float:
        objective.apply(points[int(losses[:, 0].argmin())])
        return highest_share_of_pet(workflow)

    penalised = best(objective.losses(points))
    with monkeypatch.context() as patch:
        patch.setattr(RangeExcess, "penalty", lambda self: 0.0)
        unpenalised = best(objective.losses(points))
    assert unpenalised > 1.5  # the planted failure: the clip hides it
    assert penalised <= 1.0


def test_only_a_recorded_simulation_counts_clips():
    workflow = twin({"a": 0.4, "b": 3.0})
    process = workflow.model.slots[SLOT]
    objective = PopulationLoss(workflow)
    objective.losses(objective.current()[None])  # a search
    with torch.no_grad():
        workflow.simulate()  # a score
    assert process.clipped_share()[1] == 0
    variants = Variants()
    variants.record("symbolic", workflow)
    share, counted = variants.slots["symbolic"][SLOT].clipped_share()
    nmul = workflow.config.model.nmul
    assert counted == DAYS * nmul  # every day of the one site, once
    assert 0 < share < 1
