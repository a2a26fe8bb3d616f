"""``OutputRange.clamper`` (the ends looked up once, the inputs in order) clips as
``OutputRange.clamp`` does (the inputs by name): the same values and gradients, and a
symbolic slot prepared with it gives what its expression module, clipped, gives."""

from __future__ import annotations

import pytest
import torch

from discover.processes import Symbolic
from discover.processes.base import OutputRange

RANGES = [">=0", "<=1", "[0, 1]", "0 <= out <= pet", "<= 1.2*pet", "pet/2 <= out", "real"]


@pytest.mark.parametrize("spec", RANGES)
@pytest.mark.parametrize("names", [("pet", "w"), ("w", "pet")])
def test_the_clamper_clips_as_clamp_does(spec, names):
    declared = OutputRange.parse(spec)
    gen = torch.Generator().manual_seed(1)
    out = (torch.randn(4, 5, generator=gen, dtype=torch.float64) * 2).requires_grad_()
    pet = (torch.rand(4, 5, generator=gen, dtype=torch.float64) * 3).requires_grad_()
    w = torch.rand(4, 5, generator=gen, dtype=torch.float64)
    values = {"pet": pet, "w": w}
    wanted = declared.clamp(out, values)
    got = declared.clamper(names)(out, [values[name] for name in names])
    assert torch.equal(got, wanted)
    if declared.bounded:
        assert not torch.equal(wanted, out)  # something was clipped
    weights = torch.arange(20, dtype=torch.float64).reshape(4, 5)
    wanted_grads = torch.autograd.grad((wanted * weights).sum(), [out, pet], allow_unused=True)
    got_grads = torch.autograd.grad((got * weights).sum(), [out, pet], allow_unused=True)
    for a, b in zip(got_grads, wanted_grads, strict=True):
        assert (a is None and b is None) or torch.equal(a, b)


@pytest.mark.parametrize("clip", [False, True])
def test_a_slot_leaving_out_the_input_of_its_range_is_broadcast_and_clipped(clip):
    process = Symbolic(
        "soil_wetness**b", ["soil_wetness"], {"b": 0.5}, "0.1 <= out <= 1.2*pet", clip
    )
    assert process.inputs == ("soil_wetness", "pet")
    gen = torch.Generator().manual_seed(2)
    wetness = torch.rand(3, 1, generator=gen, dtype=torch.float64)
    pet = torch.rand(3, 4, generator=gen, dtype=torch.float64) * 0.8
    out = process.function(torch.float64)([wetness, pet])
    module = process.module({"soil_wetness": wetness, "pet": pet})  # broadcast to pet
    wanted = module.clamp_min(0.1) if clip else module
    assert out.shape == (3, 4)
    assert torch.equal(out, wanted.clamp_max(1.2 * pet))
    assert bool((out < module).any())
