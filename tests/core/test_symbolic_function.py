"""A symbolic slot's prepared function (:meth:`~discover.processes.Symbolic.function`,
constants taken once) gives what calling its expression module gives: the same values
and input gradients bit for bit, the constants' gradients up to rounding (their scale is
applied once per simulation instead of once per call), the same clipping and counts."""

import pytest
import torch

from discover.models.ode import ODEModel
from discover.processes import Symbolic
from discover.processes.symbolic import ClipCount


def reference(process: Symbolic, args: list[torch.Tensor]) -> torch.Tensor:
    """The expression module called on the named inputs, then clipped as declared."""
    values = dict(zip(process.inputs, args, strict=True))
    out = process.module(values)
    limits = process.output_range if process.clip else process.output_range.set_by_inputs()
    return limits.clamp(out, values) if limits.bounded else out


CASES = [
    ("c*x*y", {"c": 0.9}, None, False),
    ("0.7*x**2 - y/3 + 2", {}, ">=0", True),
    ("k*x + 0.01", {"k": 1.3}, "0 <= out <= y", False),
    ("0.25", {}, "[0, 1]", True),  # a constant expression, broadcast to the inputs
]


@pytest.mark.parametrize(("expression", "parameters", "output", "clip"), CASES)
@pytest.mark.parametrize("shape", [(7,), (3, 4)])
def test_function_is_the_module_call(expression, parameters, output, clip, shape):
    process = Symbolic(expression, ["x", "y"], parameters, output_range=output, clip=clip)
    torch.manual_seed(0)
    args = [(3 * torch.rand(shape, dtype=torch.float64) - 1).requires_grad_() for _ in range(2)]
    wanted = reference(process, args)
    prepared = process.function(torch.float64)
    for got in (process.evaluate(args), prepared(args), prepared(args)):
        assert got.shape == shape
        assert torch.equal(got, wanted)
    inputs = [*args, process.module.relative]
    grads = torch.autograd.grad(wanted.sum(), inputs, allow_unused=True)
    got = torch.autograd.grad(prepared(args).sum(), inputs, allow_unused=True)
    for g, w in zip(got[:2], grads[:2], strict=True):
        assert (g is None and w is None) or torch.equal(g, w)
    torch.testing.assert_close(got[2], grads[2], rtol=1e-14, atol=0)


def test_function_counts_clipping_while_counting():
    process = Symbolic("x - 1", ["x"], output_range=">=0", clip=True)
    x = torch.linspace(0, 2, 9, dtype=torch.float64)
    with torch.no_grad(), ClipCount():
        process.evaluate([x])
        evaluated = process.clipped_share()
        process.clip_counts.zero_()
        process.function(torch.float64)([x])
        assert process.clipped_share() == evaluated
    assert evaluated == (4 / 9, 9)


def test_simulation_with_prepared_symbolic_slots_is_the_recorded_one():
    # A recording slot is called as a module at every right-hand side: the reference.
    model = ODEModel(
        ["x", "y"],
        {"x": "1.3*x - F(x, y)", "y": "-1.8*y + G(y, x)"},
        functions={"F": ["x", "y"], "G": ["a", "b"]},
    ).double()
    model.set_slot("F", Symbolic("c*x*y", ["x", "y"], {"c": 0.9}).double())
    model.set_slot("G", Symbolic("0.8*a*b", ["a", "b"], output_range="0 <= out <= b").double())
    y0 = torch.tensor([[0.44, 4.63], [1.0, 2.0]], dtype=torch.float64)
    times = torch.linspace(0, 2, 11, dtype=torch.float64)
    constants = [slot.module.relative for slot in model.slots.values()]

    def simulated(recording: bool) -> tuple[torch.Tensor, list[torch.Tensor]]:
        for slot in model.slots.values():
            slot.start_recording() if recording else None
        states = model.simulate(y0, times)
        for slot in model.slots.values():
            slot.stop_recording() if recording else None
        return states, list(torch.autograd.grad(states.square().sum(), constants))

    wanted, wanted_grads = simulated(recording=True)
    got, grads = simulated(recording=False)
    assert torch.equal(got, wanted)
    for g, w in zip(grads, wanted_grads, strict=True):
        torch.testing.assert_close(g, w, rtol=1e-13, atol=0)
