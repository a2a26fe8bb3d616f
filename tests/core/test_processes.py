import numpy as np
import pytest
import sympy
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from discover.processes import Neural, OutputRange, Physical, Symbolic


@pytest.mark.parametrize(
    ("spec", "low", "high"),
    [(">=0", 0.0, None), ("<= 2.5", None, 2.5), ("[0, 1]", 0.0, 1.0), (None, None, None)],
)
def test_output_range_parsing(spec, low, high):
    parsed = OutputRange.parse(spec)
    assert (parsed.low, parsed.high) == (low, high)


def test_output_range_rejects_nonsense():
    with pytest.raises(ValueError, match="cannot read output range"):
        OutputRange.parse("positive")
    with pytest.raises(ValueError, match="low < high"):
        OutputRange.parse("[1, 0]")


@pytest.mark.parametrize("spec", ["[0, 1]", ">=0", "<=-1", "[-2, 3]"])
def test_neural_output_stays_in_range_by_construction(spec):
    torch.manual_seed(0)
    net = Neural(["a", "b"], output_range=spec, output_scale=5.0)
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(30)  # push the raw output to extremes
    a, b = torch.randn(2, 5000) * 100
    out = net({"a": a, "b": b})
    rng = OutputRange.parse(spec)
    assert out.shape == a.shape
    if rng.low is not None:
        assert bool((out >= rng.low).all())
    if rng.high is not None:
        assert bool((out <= rng.high).all())


def test_neural_normalisation_uses_data_statistics():
    net = Neural(["a"])
    net.set_normalisation({"a": torch.tensor([10.0, 20.0, 30.0])})
    assert net.loc.item() == pytest.approx(20.0)
    assert net.scale.item() == pytest.approx(10.0)
    with pytest.raises(ValueError, match="no finite values"):
        net.set_normalisation({"a": torch.tensor([float("nan")])})


def test_missing_input_is_named():
    net = Neural(["a", "b"])
    with pytest.raises(KeyError, match="'b'"):
        net({"a": torch.ones(3)})


def test_physical_with_learnable_parameter_gets_gradient():
    proc = Physical(
        lambda pet, w, lp: pet * torch.clamp(w / lp, max=1.0), ["pet", "w"], {"lp": 0.7}
    )
    out = proc({"pet": torch.tensor([2.0, 2.0]), "w": torch.tensor([0.35, 0.9])})
    assert torch.allclose(out, torch.tensor([1.0, 2.0]))
    out.sum().backward()
    assert proc.parameters_["lp"].grad is not None and proc.parameters_["lp"].grad != 0


def test_symbolic_constants_are_trainable_and_reported():
    proc = Symbolic("pet * w**b", ["pet", "w"], parameters={"b": 0.5})
    assert [p.numel() for p in proc.parameters()] == [1]
    with torch.no_grad():
        proc.module.relative.copy_(2.0 / proc.module.scale)
    pet, w = sympy.symbols("pet w", real=True)
    assert float(proc.expression().subs({pet: 1.5, w: 3.0})) == pytest.approx(13.5)


def test_recording_keeps_what_the_slot_saw():
    proc = Symbolic("x*y", ["x", "y"])
    proc.start_recording()
    proc({"x": torch.tensor([[1.0, 2.0]]), "y": torch.tensor(3.0)})
    proc({"x": torch.tensor([4.0]), "y": torch.tensor([5.0])})
    inputs, outputs = proc.stop_recording()
    assert inputs.tolist() == [[1.0, 3.0], [2.0, 3.0], [4.0, 5.0]]
    assert outputs.tolist() == [3.0, 6.0, 20.0]
    proc({"x": torch.tensor([1.0]), "y": torch.tensor([1.0])})
    assert proc.stop_recording()[0].shape == (0, 2)


# -- compiled expressions agree with sympy.lambdify ------------------------------------
X, Y = sympy.symbols("x y", real=True)
_leaves = st.sampled_from([X, Y, sympy.Float(0.7), sympy.Float(2.3), sympy.Integer(2)])


def _combine(children):
    unary = st.sampled_from([sympy.exp, sympy.tanh, sympy.sin, sympy.Abs, sympy.sqrt, sympy.log])
    binary = st.sampled_from(
        [
            lambda a, b: a + b,
            lambda a, b: a * b,
            lambda a, b: a / (1 + b**2),
            lambda a, b: sympy.Min(a, b),
            lambda a, b: sympy.Max(a, b),
            lambda a, b: sympy.Abs(a) ** sympy.Float(1.5),
            lambda a, b: a**3,
        ]
    )
    return st.one_of(
        st.tuples(unary, children).map(lambda t: t[0](sympy.Abs(t[1]) + 0.5)),
        st.tuples(binary, children, children).map(lambda t: t[0](t[1], t[2])),
    )


@settings(max_examples=60, deadline=None)
@given(expr=st.recursive(_leaves, _combine, max_leaves=8))
def test_compiled_expression_matches_lambdify(expr):
    expr = sympy.sympify(expr)
    if not expr.free_symbols:
        expr = expr + X
    proc = Symbolic(expr, ["x", "y"]).double()
    rng = np.random.default_rng(0)
    x, y = rng.uniform(0.1, 3.0, size=(2, 200))
    expected = sympy.lambdify((X, Y), expr, "numpy")(x, y) * np.ones_like(x)
    got = proc({"x": torch.tensor(x), "y": torch.tensor(y)}).detach().numpy()
    finite = np.isfinite(expected)
    assert np.array_equal(finite, np.isfinite(got))
    np.testing.assert_allclose(got[finite], expected[finite], rtol=1e-6, atol=1e-9)


def test_warm_start_fits_the_network_to_a_target_function():
    torch.manual_seed(0)
    net = Neural(["pet", "w"], output_range=">=0", hidden=(16, 16))
    gen = torch.Generator().manual_seed(0)
    samples = {"pet": 5 * torch.rand(2000, generator=gen), "w": torch.rand(2000, generator=gen)}
    net.set_normalisation(samples)

    def target(x):
        return x["pet"] * torch.clamp(x["w"] / 0.5, max=1.0)

    before = float(((net(samples) - target(samples)) ** 2).mean())
    after = net.fit_to(target, samples, steps=400)
    assert after < 0.05 * before and after < 0.05


def test_an_optimiser_step_moves_each_constant_by_a_share_of_its_own_size():
    proc = Symbolic("small*x + large*y", ["x", "y"], parameters={"small": 0.01, "large": 100.0})
    optimiser = torch.optim.Adam(proc.parameters(), lr=0.02)
    proc({"x": torch.ones(3), "y": torch.ones(3)}).sum().backward()  # both pushed down
    optimiser.step()
    x, y = sympy.symbols("x y", real=True)
    fitted = proc.expression()
    small, large = float(fitted.coeff(x)), float(fitted.coeff(y))
    # Adam moves each trained value by about lr: 2 % of each constant, not 0.02 of both
    # (which would turn 0.01 negative and leave 100 almost where it was)
    assert small == pytest.approx(0.01 * 0.98, rel=1e-3)
    assert large == pytest.approx(100.0 * 0.98, rel=1e-3)
