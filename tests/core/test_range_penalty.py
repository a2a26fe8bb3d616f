"""A refitted equation stays in its declared range: the out-of-range excess in the
training loss (``RangeExcess``), and the guard that takes a refit still outside back in
(``keep_in_range``) when a variant is recorded.

The planted twin: ET is observed directly, the truth is ``pet·min(1, 0.4 + 0.9·SW)`` (never
above PET), and the equation ``pet·(0.4 + 0.4·SW)`` is refitted in a model that clips it into
``[0, pet]``. Refitted without a penalty, its constants go to the truth's unclipped
``pet·(0.4 + 0.9·SW)``, up to 1.3·PET in wet soil, and the clip hides it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from discover.config import TrainConfig
from discover.fit.objective import Objective
from discover.fit.trainer import Trainer
from discover.models.base import HybridModel
from discover.models.ode import ODEModel
from discover.processes import Symbolic
from discover.processes.symbolic import ClipCount, RangeExcess
from discover.stages.variants import Variants
from discover.validate.checks import check_function, range_checks, sampled_domain
from discover.validate.range_guard import keep_in_range

SLOT, RANGE = "evapotranspiration", "0 <= out <= pet"
STEPS, SITES, TRAIN = 120, 4, 80


class Twin(nn.Module):
    """A model with one ET slot, observed directly: the smallest study a variant is
    recorded from (``model``, ``loss``, ``simulate``)."""

    def __init__(self, expression: str = "pet*(0.4 + 0.4*soil_wetness)"):
        super().__init__()
        rng = np.random.default_rng(0)
        pet = rng.uniform(0.0, 5.0, (STEPS, SITES))
        wetness = rng.uniform(0.0, 1.0, (STEPS, SITES))
        truth = pet * np.minimum(1.0, 0.4 + 0.9 * wetness)
        self.model = HybridModel({SLOT: ("pet", "soil_wetness")}, {"soil_wetness": (0.0, 1.0)})
        self.model.set_slot(SLOT, Symbolic(expression, ["pet", "soil_wetness"], output_range=RANGE))
        self.model.to(torch.float64)
        self.register_buffer("pet", torch.as_tensor(pet))
        self.register_buffer("wetness", torch.as_tensor(wetness))
        splits = {"train": slice(0, TRAIN), "test": slice(TRAIN, None)}
        self.objective = Objective(
            self._run, truth[..., None], splits, per_site=True, dtype=torch.float64
        )

    def _run(self, batch, sites) -> torch.Tensor:
        steps = slice(batch.first + batch.warmup, batch.end)
        inputs = {"pet": self.pet[steps, sites], "soil_wetness": self.wetness[steps, sites]}
        return self.model.slots[SLOT](inputs)[..., None]

    def loss(self, split: str, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.objective.loss(split, generator)

    def simulate(self) -> torch.Tensor:
        return self._run(self.objective.whole(0, STEPS), slice(None))

    @property
    def process(self) -> Symbolic:
        return self.model.slots[SLOT]

    def inputs(self) -> np.ndarray:
        """The slot's inputs over the whole period [n, 2]."""
        return np.stack([self.pet.numpy().ravel(), self.wetness.numpy().ravel()], -1)

    def highest_share_of_pet(self) -> float:
        """Largest unclipped ET/PET of the equation over soil wetness in [0, 1]."""
        wetness = torch.linspace(0.0, 1.0, 101, dtype=torch.float64)
        with torch.no_grad():
            out = self.process.module({"pet": torch.ones_like(wetness), "soil_wetness": wetness})
        return float(out.max())


def refit(twin: Twin) -> None:
    """Adam on the twin's training loss, as a study refits a reinserted equation."""
    config = TrainConfig(iterations=150, lr=0.05, eval_every=50, lbfgs_iterations=0)
    Trainer(twin, twin.loss, config, progress=False).fit()


def leaves_range(twin: Twin) -> bool:
    """Whether the twin's equation fails the checks' range test at its inputs."""
    domain, bounds = domain_of(twin)
    return not all(r.passed for r in range_checks(twin.process, domain, bounds=bounds))


def domain_of(twin: Twin):
    """The checks' domain and bounds of the twin's equation at its inputs."""
    names = ["pet", "soil_wetness"]
    return sampled_domain(twin.process, twin.inputs(), names, twin.model.input_bounds)


@pytest.fixture
def no_penalty(monkeypatch):
    """Training without the range penalty (as before it existed)."""
    monkeypatch.setattr(RangeExcess, "penalty", lambda self: 0.0)


def test_penalty_is_zero_inside_and_pulls_back_outside():
    inputs = {
        "pet": torch.tensor([0.0, 1.0, 2.0], dtype=torch.float64),
        "soil_wetness": torch.tensor([0.5, 1.0, 0.2], dtype=torch.float64),
    }
    inside = Symbolic("0.5*pet", ["pet", "soil_wetness"], output_range=RANGE).double()
    with RangeExcess() as excess:
        inside(inputs)
    assert float(excess.penalty().detach()) == 0.0
    outside = Symbolic("1.5*pet + 0.2", ["pet", "soil_wetness"], output_range=RANGE).double()
    with RangeExcess() as excess:
        outside(inputs)
    penalty = excess.penalty()
    unclipped = 1.5 * inputs["pet"] + 0.2
    above = unclipped - inputs["pet"]  # output units beyond the upper end
    expected = above.abs().mean() / unclipped.square().mean().sqrt()
    assert float(penalty.detach()) == pytest.approx(float(expected))
    penalty.backward()
    assert (outside.module.relative.grad > 0).all()  # descent lowers both constants
    with torch.no_grad(), RangeExcess() as excess:  # the same tally without gradients
        outside(inputs)
    assert float(excess.penalty()) == float(penalty.detach())


def test_training_loss_adds_the_penalty_and_other_splits_do_not(monkeypatch):
    twin = Twin("1.2*pet")
    with monkeypatch.context() as patch:
        patch.setattr(RangeExcess, "penalty", lambda self: 0.0)
        fitted = float(twin.loss("train").detach())
    train = twin.loss("train")
    assert float(train.detach()) > fitted
    with torch.no_grad():  # a search scores what training minimises
        assert float(twin.loss("train")) == float(train.detach())
    train.backward()
    assert float(twin.process.module.relative.grad) > 0
    test = twin.loss("test").detach()
    with monkeypatch.context() as patch:
        patch.setattr(RangeExcess, "add", lambda *args: pytest.fail("tallied on test"))
        assert float(twin.loss("test")) == float(test)


def test_unconstrained_refit_leaves_the_range(no_penalty):
    """The planted failure: without the penalty the refit goes where the clip hides it."""
    twin = Twin()
    assert not leaves_range(twin)
    refit(twin)
    assert twin.highest_share_of_pet() > 1.2
    assert leaves_range(twin)


def test_penalty_holds_the_refit_closer_to_the_range(monkeypatch):
    twin = Twin()
    refit(twin)
    with monkeypatch.context() as patch:
        patch.setattr(RangeExcess, "penalty", lambda self: 0.0)
        unconstrained = Twin()
        refit(unconstrained)
    excess, unconstrained_excess = (t.highest_share_of_pet() - 1 for t in (twin, unconstrained))
    assert unconstrained_excess > 0.1
    assert excess < 0.75 * unconstrained_excess


def test_recorded_variant_stays_in_range_after_the_refit():
    twin = Twin()
    refit(twin)
    variants = Variants()
    variants.record("symbolic", twin)
    recorded = variants.slots["symbolic"][SLOT]
    assert not leaves_range(twin)
    assert twin.highest_share_of_pet() <= 1.0 + 1e-6
    share, counted = recorded.clipped_share()
    assert counted == STEPS * SITES and share <= 0.001
    domain, bounds = domain_of(twin)
    report = check_function(recorded, domain, bounds=bounds)
    assert all(r.passed for r in report.results if r.check in ("range", "limits", "clipped"))


def test_guard_holds_the_constant_that_moved_least_when_that_suffices(no_penalty):
    twin = Twin()
    refit(twin)
    start = twin.process.start.clone()
    moved = twin.process.module.relative.detach().clone()
    guard = keep_in_range(twin.process, twin.inputs(), twin.model.input_bounds)
    assert guard is not None and guard.held is not None and guard.share == 1.0
    held = guard.held
    kept = twin.process.module.relative.detach().clone()
    assert kept[held] == start[held]
    others = [i for i in range(len(kept)) if i != held]
    assert torch.equal(kept[others], moved[others])
    assert not leaves_range(twin)
    for i in others:  # a constant that moved less is held first: holding it did not suffice
        if abs(float(moved[i] - start[i])) < abs(float(moved[held] - start[held])):
            with torch.no_grad():
                twin.process.module.relative.copy_(moved)
                twin.process.module.relative[i] = start[i]
            assert leaves_range(twin)
    with torch.no_grad():
        twin.process.module.relative.copy_(kept)
    domain, bounds = domain_of(twin)
    report = check_function(twin.process, domain, bounds=bounds)
    refit_rows = [r for r in report.results if r.check == "refit"]
    assert len(refit_rows) == 1 and "was held at the value" in refit_rows[0].sentence
    assert keep_in_range(twin.process, twin.inputs(), twin.model.input_bounds) is None


def test_guard_keeps_the_largest_share_of_the_move_when_no_hold_suffices():
    """``pet·(a + b·SW)`` with both constants moved from 0.4 to 0.7: holding either one
    still reaches 1.1·PET in wet soil; a third of the move reaches exactly PET."""
    twin = Twin()
    start = twin.process.start.clone()
    with torch.no_grad():
        twin.process.module.relative.mul_(1.75)
    guard = keep_in_range(twin.process, twin.inputs(), twin.model.input_bounds)
    assert guard is not None and guard.held is None
    assert guard.share == pytest.approx(1 / 3, abs=1e-3)
    kept = twin.process.module.relative.detach()
    assert torch.allclose(kept, start * (1 + 0.75 * guard.share))
    assert not leaves_range(twin)


def test_guard_leaves_an_equation_whose_start_is_outside_too():
    twin = Twin("1.1*pet")
    assert keep_in_range(twin.process, twin.inputs()) is None
    assert float(twin.process.module.constants.detach()[0]) == pytest.approx(1.1)


@pytest.mark.parametrize("kind", [RangeExcess, ClipCount])
def test_tally_is_innermost_and_restored(kind):
    other = ClipCount if kind is RangeExcess else RangeExcess
    assert kind.active() is None
    with kind() as outer:
        with kind() as inner:
            assert kind.active() is inner
            assert other.active() is None  # each kind has its own
        assert kind.active() is outer
    assert kind.active() is None


def test_an_ode_slot_tallies_its_excess_in_a_simulation_with_gradients():
    """ODE right-hand sides call their slots through ``Symbolic.function``: the same
    tally reaches an ODE's training loss (its ``Objective``, multiple shooting or not)."""
    model = ODEModel(["x"], {"x": "-F(x)"}, functions={"F": ["x"]}).double()
    model.set_slot("F", Symbolic("1.2*x", ["x"], output_range="0 <= out <= x"))
    y0, times = torch.tensor([[1.0], [2.0]], dtype=torch.float64), torch.linspace(0, 1, 5)
    with RangeExcess() as excess:
        states = model.simulate(y0, times.double())
    penalty = excess.penalty()
    # mean |0.2·x| over the RMS of 1.2·x: 0.2/1.2 times mean |x| / RMS x, which is <= 1
    assert 0.1 < float(penalty.detach()) <= 0.2 / 1.2
    penalty.backward()
    assert float(model.slots["F"].module.relative.grad) > 0
    with RangeExcess() as excess:
        model.set_slot("F", Symbolic("0.8*x", ["x"], output_range="0 <= out <= x").double())
        model.simulate(y0, times.double())
    assert float(excess.penalty().detach()) == 0.0
    assert torch.isfinite(states).all()


def test_guard_restores_an_equation_at_its_end_by_construction_exactly():
    """``max(0.5·pet + 0.4, 0.6·pet) − 0.4`` is 0 at PET 0 only while its two 0.4 cancel:
    any share of a refit that breaks that leaves the range there, if only by rounding,
    and the model would clip it; the guard keeps none of it."""
    process = Symbolic("Max(0.5*pet + 0.4, 0.6*pet) - 0.4", ["pet"], output_range=RANGE)
    process = process.double()
    relative = process.module.relative
    assert relative.numel() == 4
    with torch.no_grad():
        relative.mul_(torch.tensor([1.2, 0.9, 1.1, 0.8], dtype=torch.float64))
    pet = np.concatenate([np.zeros(10), np.linspace(0.0, 6.0, 200)])[:, None]
    guard = keep_in_range(process, pet)
    assert guard is not None and guard.share == 0.0
    assert torch.equal(relative.detach(), process.start)
    with torch.no_grad(), ClipCount():
        process({"pet": torch.as_tensor(pet[:, 0])})
    assert process.clipped_share() == (0.0, 210)
