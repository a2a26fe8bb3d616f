"""Output ranges whose ends an input sets (``0 <= out <= pet``): parsing, enforcement in
networks and equations, the range check, distillation and HBV's default."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from discover.config import ConfigError, parse_config
from discover.distill import symbolic_fit
from discover.distill.api import INPUT_END_TOLERANCE
from discover.distill.postprocess import numpy_function
from discover.models.hbv_processes import default_range
from discover.processes import Neural, OutputRange, Symbolic
from discover.processes.base import InputBound, OutputRangeError
from discover.processes.symbolic import ClipCount
from discover.validate.checks import check_function

WET_EXCESS = "1.94*pet*soil_wetness**1.91"
"""An equation that reaches 1.94 x pet in wet soil, as a neural ET slot's distillate did."""


def _result(report, check, region):
    (found,) = [r for r in report.results if r.check == check and r.region == region]
    return found


@pytest.fixture
def probed():
    rng = np.random.default_rng(0)
    return {"pet": rng.uniform(0.1, 5.0, 400), "soil_wetness": rng.uniform(0.05, 0.99, 400)}


@pytest.mark.parametrize(
    ("spec", "low", "high"),
    [
        ("0 <= out <= pet", 0.0, InputBound("pet")),
        ("<= pet", None, InputBound("pet")),
        ("out <= 1.2*pet", None, InputBound("pet", 1.2)),
        ("pet/2 <= out", InputBound("pet", 0.5), None),
        ("[0, pet]", 0.0, InputBound("pet")),
        ("0 <= out <= 1", 0.0, 1.0),
        (">=0", 0.0, None),
    ],
)
def test_ends_set_by_an_input_are_parsed_and_printed_back(spec, low, high):
    parsed = OutputRange.parse(spec)
    assert (parsed.low_input or parsed.low, parsed.high_input or parsed.high) == (low, high)
    assert OutputRange.parse(str(parsed)) == parsed


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("0 <= out <= pet*soil_wetness", r"one input name.*\['pet', 'soil_wetness'\]"),
        ("<= -pet", "positive constant"),
        ("<= pet**2", "positive constant"),
        ("<= exp(pet)", "positive constant"),
        ("<= __import__('os')", "cannot read bound|one input name"),
        ("0 <= pet", "cannot read output range"),
    ],
)
def test_bounds_other_than_one_input_times_a_positive_constant_are_refused(spec, message):
    with pytest.raises(OutputRangeError, match=message):
        OutputRange.parse(spec)


def test_a_bound_naming_an_unknown_input_is_refused():
    with pytest.raises(OutputRangeError, match=r"bounded by \['pet'\].*\['soil_wetness'\]"):
        Neural(["soil_wetness"], output_range="0 <= out <= pet")
    raw = {
        "name": "bounded",
        "data": {"source": "twin", "sites": 2, "days": 60},
        "model": {
            "type": "hbv",
            "neural": {
                "evapotranspiration": {"inputs": ["pet", "soil_wetness"], "output": "<= rain"}
            },
        },
    }
    with pytest.raises(ConfigError, match=r"model\.neural\.evapotranspiration: .*\['rain'\]"):
        parse_config(raw)
    raw["model"]["neural"]["evapotranspiration"]["output"] = "<= pet*soil_wetness"
    with pytest.raises(ConfigError, match=r"evapotranspiration\.output: .*one input name"):
        parse_config(raw)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    weight_scale=st.sampled_from([1.0, 30.0, 1000.0]),
    spec=st.sampled_from(["0 <= out <= pet", "<= 1.2*pet", "0.5*pet <= out <= pet"]),
)
def test_network_output_never_leaves_a_bound_an_input_sets(seed, weight_scale, spec):
    torch.manual_seed(seed)
    net = Neural(["pet", "soil_wetness"], output_range=spec, hidden=(8, 8), output_scale=3.0)
    with torch.no_grad():
        for parameter in net.parameters():
            parameter.mul_(weight_scale)  # large weights saturate the raw output
    generator = torch.Generator().manual_seed(seed)
    pet = 10 * torch.rand(2000, generator=generator)
    wetness = 2 * torch.rand(2000, generator=generator)
    out = net({"pet": pet, "soil_wetness": wetness})
    low, high = OutputRange.parse(spec).limits({"pet": pet})
    assert bool((out <= high).all())
    if low is not None:
        assert bool((out >= low).all())


def test_network_squashes_into_zero_and_pet():
    net = Neural(["pet", "soil_wetness"], output_range="0 <= out <= pet")
    with torch.no_grad():
        net.network[-1].bias.fill_(50.0)
        net.network[-1].weight.zero_()
    pet = torch.tensor([0.0, 1.0, 4.0])
    assert torch.equal(net({"pet": pet, "soil_wetness": torch.ones(3)}), pet)


def test_symbolic_equation_is_clipped_to_pet_and_the_clipped_share_counted(probed):
    process = Symbolic(WET_EXCESS, ["soil_wetness"], output_range="0 <= out <= pet")
    assert process.inputs == ("soil_wetness", "pet")  # the bound's input is added
    inputs = {k: torch.as_tensor(v) for k, v in probed.items()}
    raw = 1.94 * inputs["pet"] * inputs["soil_wetness"] ** 1.91
    with torch.no_grad(), ClipCount():  # as while a variant is recorded
        out = process(inputs)
    assert torch.allclose(out, torch.minimum(raw, inputs["pet"]))
    share, counted = process.clipped_share()
    assert counted == raw.numel()
    assert share == pytest.approx(float((raw > inputs["pet"]).double().mean()))
    assert 0 < share < 1
    # evaluations outside a recording (training, searches) are not counted; gradients flow
    process(inputs).sum().backward()
    assert process.clipped_share()[1] == counted
    assert process.module.relative.grad.abs().sum() > 0
    # a constant end alone is clipped only with clip=True (a model enforces it)
    free = Symbolic("x - 1", ["x"], output_range=">=0")
    with torch.no_grad(), ClipCount():
        assert free({"x": torch.zeros(3)}).min() == -1
    assert free.clipped_share()[1] == 0


@pytest.mark.parametrize(("offset", "counted"), [(1.6e-7, False), (1e-3, True)])
def test_a_clip_within_the_range_slack_is_not_counted(offset, counted):
    # on days without PET an equation pet*f(SW) + c leaves [0, pet] by c: a departure only
    # beyond the slack the range checks allow (RANGE_RTOL)
    process = Symbolic(
        f"pet*soil_wetness + {offset}", ["pet", "soil_wetness"], output_range="0 <= out <= pet"
    )
    pet = torch.tensor([0.0, 0.0, 1.0, 2.0], dtype=torch.float64)
    with torch.no_grad(), ClipCount():
        out = process({"pet": pet, "soil_wetness": torch.full_like(pet, 0.5)})
    assert torch.all(out <= pet)  # clipped either way
    assert process.clipped_share()[0] == (0.5 if counted else 0.0)


def test_range_check_fails_an_equation_above_pet_and_names_the_worst_point(probed):
    process = Symbolic(WET_EXCESS, ["pet", "soil_wetness"], output_range="0 <= out <= pet")
    with torch.no_grad(), ClipCount():  # as a recorded model's simulation would
        process({k: torch.as_tensor(v) for k, v in probed.items()})
    bounds = {"pet": (0.0, None), "soil_wetness": (0.0, 1.0)}
    report = check_function(process, probed, bounds=bounds)
    visited = _result(report, "range", "visited")
    assert not visited.passed
    ratio = 1.94 * probed["soil_wetness"] ** 1.91
    worst = int(np.argmax(ratio))
    assert f"reaches {ratio[worst]:.3g}×pet at pet={probed['pet'][worst]:.4g}" in visited.sentence
    assert not _result(report, "range", "extrapolated").passed
    assert "reaches 1.94×pet" in _result(report, "range", "extrapolated").sentence
    clipped = _result(report, "clipped", "model")
    assert not clipped.passed and "into [0, pet]" in clipped.sentence

    fine = Symbolic("pet*soil_wetness**0.5", ["pet", "soil_wetness"], output_range="[0, pet]")
    report = check_function(fine, probed, bounds=bounds)
    assert report.passed, str(report)
    assert "clipped" not in {r.check for r in report.results}  # nothing counted yet


def test_range_check_of_a_plain_function_against_an_input_bound(probed):
    def excess(points):
        return 1.94 * points["pet"] * points["soil_wetness"] ** 1.91

    report = check_function(excess, probed, "0 <= out <= pet")
    assert not _result(report, "range", "visited").passed
    with pytest.raises(ValueError, match=r"bounded by \['pet'\]"):
        check_function(excess, {"soil_wetness": probed["soil_wetness"]}, "<= pet")


def test_distillation_drops_forms_that_cross_an_input_bound_beyond_their_error(probed):
    X = np.column_stack([probed["pet"], probed["soil_wetness"]])
    y = np.minimum(probed["pet"], 1.3 * probed["pet"] * probed["soil_wetness"])
    names = ["pet", "soil_wetness"]
    free = symbolic_fit(X, y, names, engine="rational", time_budget_s=3)
    bounded = symbolic_fit(
        X, y, names, engine="rational", output_range="0 <= out <= pet", time_budget_s=3
    )

    def excess(candidate):  # how far above pet, in RMS errors of the candidate
        above = numpy_function(candidate.expression, names)(X) - probed["pet"]
        return above.max() / np.sqrt(candidate.loss)

    crossing = [c for c in free if excess(c) > INPUT_END_TOLERANCE]
    assert crossing  # e.g. 1.2*pet*soil_wetness, 1.2 x pet in wet soil
    kept = {str(c.expression) for c in bounded}
    assert not kept & {str(c.expression) for c in crossing}
    assert all(excess(c) <= INPUT_END_TOLERANCE + 1e-6 for c in bounded)
    # close fits that touch pet within their error stay: the front is not left with 0.65*pet
    assert bounded.selected.loss < 0.1 * max(c.loss for c in bounded)
    # without the bound's input among the names the bound cannot be checked: no crash
    only_wetness = symbolic_fit(
        X[:, 1:], y, ["soil_wetness"], engine="rational", output_range="0 <= out <= pet"
    )
    assert len(only_wetness) > 0


def test_hbv_evapotranspiration_is_bounded_by_pet_unless_lifted():
    assert default_range("evapotranspiration", ["pet", "soil_wetness"]) == "0 <= out <= pet"
    assert default_range("evapotranspiration", ["soil_wetness"]) == ">=0"
    assert default_range("baseflow", ["lower_zone", "k2"]) == ">=0"
    assert default_range("k2", ["sand"]) == "[0.001, 0.2]"

    from discover.workflows.hbv import HBVWorkflow

    def slot_range(output):
        slot = {"inputs": ["pet", "soil_wetness"], "hidden": [4]}
        if output is not None:
            slot["output"] = output
        raw = {
            "name": "bounded",
            "data": {"source": "twin", "sites": 2, "days": 60},
            "model": {"type": "hbv", "warmup": 10, "neural": {"evapotranspiration": slot}},
        }
        workflow = HBVWorkflow(parse_config(raw), base=".")
        return str(workflow.model.slots["evapotranspiration"].output_range)

    assert slot_range(None) == "[0, pet]"
    assert slot_range(">=0") == "[0, inf]"
