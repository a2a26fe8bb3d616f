"""A compiled ``Min``/``Max`` lets ``torch.minimum``/``torch.maximum`` broadcast: a number
in it takes the values' dtype (as in a product), and with the dtypes alike the values and
gradients are those of the parts broadcast to one shape first, ties included."""

from __future__ import annotations

from functools import reduce

import pytest
import torch

from discover.processes import Symbolic

EXPRESSIONS = ["pet*Min(1, soil_wetness/c)", "Max(c*soil_wetness, pet - 1, 0.25)"]


@pytest.mark.parametrize("expression", EXPRESSIONS)
def test_a_number_in_a_min_takes_the_dtype_of_the_values(expression):
    inputs = ["pet", "soil_wetness"]
    kept, converted = (Symbolic(expression, inputs, {"c": 0.7}) for _ in range(2))
    converted = converted.float()
    assert kept.module.relative.dtype == torch.float64
    gen = torch.Generator().manual_seed(0)
    args = [torch.rand(5, 7, generator=gen) * 3, torch.rand(5, 7, generator=gen)]
    out = kept.function(torch.float32)(args)
    assert out.dtype == torch.float32
    assert torch.equal(out, converted.function(torch.float32)(args))
    assert torch.equal(kept.evaluate(args), out)


@pytest.mark.parametrize("combine", [torch.minimum, torch.maximum])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_min_and_max_match_the_parts_broadcast_first_with_ties(combine, dtype):
    name = "Min" if combine is torch.minimum else "Max"
    process = Symbolic(f"{name}(x, c*y, 0.5)", ["x", "y"], {"c": 2.0}, fixed_numbers=True)
    process = process.to(dtype)  # one trainable constant, c
    x = torch.tensor([[0.5, 0.2, 1.5], [0.9, 0.5, -1.0]], dtype=dtype, requires_grad=True)
    y = torch.tensor([0.25, 0.1, 0.8], dtype=dtype, requires_grad=True)  # ties with x, 0.5
    out = process.function(dtype)([x, y])
    own = process.module.relative
    got = torch.autograd.grad((out * torch.arange(6, dtype=dtype).reshape(2, 3)).sum(), [x, y, own])
    c = own * process.module.scale
    parts = torch.broadcast_tensors(x, c[0] * y, torch.tensor(0.5, dtype=dtype))
    wanted_out = reduce(combine, parts)
    weights = torch.arange(6, dtype=dtype).reshape(2, 3)
    wanted = torch.autograd.grad((wanted_out * weights).sum(), [x, y, own])
    assert torch.equal(out, wanted_out)
    assert any(float(g.abs().sum()) > 0 for g in wanted)
    for a, b in zip(got, wanted, strict=True):
        assert torch.equal(a, b)
