"""Compiled sums subtract their ``-1·rest`` terms: the same values and gradients bit for
bit as multiplying by -1 and adding, left to right."""

from functools import reduce

import pytest
import sympy
import torch

from discover.expressions import parse_expression
from discover.processes.compile import ExpressionModule

NAMES = ["x", "y", "z"]


def plain(expr: sympy.Basic, values: dict[str, torch.Tensor], constants: list[torch.Tensor]):
    """``expr`` evaluated term by term, each product and sum left to right (floats taken
    from ``constants`` in order)."""
    if isinstance(expr, sympy.Symbol):
        return values[expr.name]
    if isinstance(expr, sympy.Float):
        return constants.pop(0)
    if isinstance(expr, sympy.Number):
        return torch.tensor(float(expr), dtype=torch.float64)
    parts = [plain(a, values, constants) for a in expr.args]
    if isinstance(expr, sympy.Add):
        return reduce(torch.add, parts)
    if isinstance(expr, sympy.Mul):
        return reduce(torch.mul, parts)
    if isinstance(expr, sympy.Pow):
        return torch.pow(parts[0], int(expr.exp))
    raise AssertionError(f"no reference for {expr}")


@pytest.mark.parametrize(
    "text",
    [
        "1.3*x - x*y",
        "x*y - z",
        "-y + 2*x - z",
        "-1.8*y + x*y",
        "-x - y - 0.5*x*y",
        "x - y + z - 1.5*x",
        "-2.5*x*y + 3",
        "z - (x*y)**2 - 1",
    ],
)
def test_sums_with_negated_terms_are_bit_identical_to_adding_them(text):
    expression = parse_expression(text, NAMES)
    module = ExpressionModule(expression, NAMES).double()
    torch.manual_seed(0)
    values = {n: torch.randn(9, dtype=torch.float64, requires_grad=True) for n in NAMES}
    got = module(values)
    wanted = plain(expression, values, list(module.constants.unbind(0)))
    assert torch.equal(got, wanted)
    inputs = [values[n] for n in NAMES] + list(module.parameters())
    got_grads = torch.autograd.grad(got.sum(), inputs, allow_unused=True)
    wanted_grads = torch.autograd.grad(wanted.sum(), inputs, allow_unused=True)
    for g, w in zip(got_grads, wanted_grads, strict=True):
        assert (g is None and w is None) or torch.equal(g, w)
