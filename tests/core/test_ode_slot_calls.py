"""The ODE right-hand side calls its slots through prepared functions
(:meth:`~discover.processes.base.Process.function`): the values and gradients of calling
the slot modules (a network's up to rounding: its standardisation is folded into its first
layer)."""

import pytest
import torch

from discover.models.ode import ODEModel
from discover.processes import Neural


def reference(process: Neural, args: list[torch.Tensor]) -> torch.Tensor:
    """The network called as a module on the standardised stacked inputs."""
    x = torch.stack(args, dim=-1)
    z = process.network((x - process.loc.to(x.dtype)) / process.scale.to(x.dtype)).squeeze(-1)
    named = dict(zip(process.inputs, args, strict=True))
    return process.output_range.squash(z, process.output_scale.to(z.dtype), named)


@pytest.mark.parametrize("output", [">=0", ">=0.5", "[0, b]", None])
@pytest.mark.parametrize("shape", [(7,), (3, 4)])
def test_neural_evaluate_is_its_network_and_function_the_same_up_to_rounding(output, shape):
    torch.manual_seed(0)
    process = Neural(["a", "b"], output, hidden=(8, 8), activation="softplus").double()
    process.set_normalisation({"a": torch.rand(50) * 3, "b": torch.rand(50) + 1})
    args = [torch.rand(shape, dtype=torch.float64, requires_grad=True) + 1 for _ in range(2)]
    wanted = reference(process, args)
    evaluated = process.evaluate(args)
    folded = process.function(torch.float64)(args)
    assert evaluated.shape == folded.shape == shape
    assert torch.equal(evaluated, wanted)
    torch.testing.assert_close(folded, wanted, rtol=1e-12, atol=1e-14)
    inputs = [*args, *process.parameters()]
    wanted_grads = torch.autograd.grad(wanted.sum(), inputs)
    for got, exact in ((evaluated, True), (folded, False)):
        grads = torch.autograd.grad(got.sum(), inputs)
        for g, w in zip(grads, wanted_grads, strict=True):
            assert torch.equal(g, w) if exact else torch.allclose(g, w, rtol=1e-10, atol=1e-12)


def test_a_slot_using_some_inputs_in_its_own_order_gets_them_by_name():
    model = ODEModel(
        ["x", "y"], {"x": "-F(x, y)", "y": "G(x, y)"}, functions={"F": ["x", "y"], "G": ["x", "y"]}
    )
    torch.manual_seed(1)
    model.set_slot("F", Neural(["y", "x"]))
    model.slots["F"].set_normalisation({"y": torch.rand(20) * 4, "x": torch.rand(20) + 2})
    model.set_slot("G", Neural(["y"]))
    y = torch.rand(5, 2) + 0.5
    rates = model.rates(torch.tensor(0.0), y)
    x_, y_ = y.unbind(-1)
    torch.testing.assert_close(rates[:, 0], -model.slots["F"]({"x": x_, "y": y_}))
    torch.testing.assert_close(rates[:, 1], model.slots["G"]({"x": x_, "y": y_}))


def test_a_recording_slot_records_what_the_solver_passes():
    model = ODEModel(["x"], {"x": "-F(x)"}, functions={"F": ["x"]})
    model.set_slot("F", Neural(["x"], ">=0"))
    model.slots["F"].start_recording()
    with torch.no_grad():
        model.simulate(torch.ones(2, 1), torch.linspace(0, 1, 3))
    inputs, outputs = model.slots["F"].stop_recording()
    assert inputs.shape == (2 * 2 * 4 * 4, 1)  # rows x intervals x substeps x stages
    assert bool((outputs >= 0).all())
