import numpy as np
import pytest
import torch
from scipy.integrate import solve_ivp

from discover.models.base import SlotError
from discover.models.ode import ODEModel
from discover.processes import Neural, Physical, Symbolic

LV = {"x": "alpha*x - F(x, y)", "y": "-delta*y + G(x, y)"}


def lotka_volterra_model(**solver) -> ODEModel:
    model = ODEModel(
        ["x", "y"], LV, {"alpha": 1.3, "delta": 1.8}, {"F": ["x", "y"], "G": ["x", "y"]}, **solver
    )
    model.set_slot("F", Symbolic("0.9*x*y", ["x", "y"]))
    model.set_slot("G", Symbolic("0.8*x*y", ["x", "y"]))
    return model.double()


def reference(times: np.ndarray) -> np.ndarray:
    def rhs(_t, u):
        x, y = u
        return [1.3 * x - 0.9 * x * y, -1.8 * y + 0.8 * x * y]

    sol = solve_ivp(rhs, (times[0], times[-1]), [0.44, 4.63], t_eval=times, rtol=1e-11, atol=1e-12)
    return sol.y.T


@pytest.mark.parametrize(
    ("solver", "tolerance"),
    [({"solver": "rk4", "substeps": 4}, 1e-5), ({"solver": "dopri5", "rtol": 1e-9}, 1e-6)],
)
def test_symbolic_lotka_volterra_matches_scipy(solver, tolerance):
    times = np.linspace(0, 3, 31)
    model = lotka_volterra_model(**solver)
    out = model.simulate(torch.tensor([[0.44, 4.63]], dtype=torch.float64), torch.tensor(times))
    np.testing.assert_allclose(out[:, 0].detach().numpy(), reference(times), atol=tolerance)


def test_forcings_are_interpolated_linearly():
    # dS/dt = P(t) with P piecewise linear: S(t) is its exact integral, which RK4 reproduces.
    model = ODEModel(["S"], {"S": "P"}, forcings=["P"], substeps=3).double()
    times = torch.tensor([0.0, 1.0, 2.0, 4.0], dtype=torch.float64)
    rain = torch.tensor([0.0, 2.0, 2.0, 0.0], dtype=torch.float64).reshape(4, 1, 1)
    out = model.simulate(torch.zeros(1, 1, dtype=torch.float64), times, rain)[:, 0, 0]
    np.testing.assert_allclose(out.numpy(), [0.0, 1.0, 3.0, 5.0], atol=1e-12)


def test_slots_swap_at_run_time_and_gradients_reach_the_network():
    model = lotka_volterra_model()
    times = torch.linspace(0, 1, 11, dtype=torch.float64)
    y0 = torch.tensor([[0.44, 4.63]], dtype=torch.float64)
    before = model.simulate(y0, times)
    network = Neural(["x", "y"]).double()
    old = model.set_slot("F", network)
    assert old.kind == "symbolic" and model.slot_kinds() == {"F": "neural", "G": "symbolic"}
    after = model.simulate(y0, times)
    assert not torch.allclose(before, after)
    after.sum().backward()
    assert all(p.grad is not None for p in network.parameters())


def test_slot_inputs_must_be_visible():
    model = lotka_volterra_model()
    with pytest.raises(SlotError, match="cannot see input"):
        model.set_slot("F", Neural(["x", "z"]))
    with pytest.raises(SlotError, match="unknown slot 'H'"):
        model.set_slot("H", Neural(["x"]))


def test_declaration_errors_are_clear():
    with pytest.raises(ValueError, match="undeclared name 'beta'"):
        ODEModel(["x"], {"x": "beta*x"})
    with pytest.raises(ValueError, match="missing \\['y'\\]"):
        ODEModel(["x", "y"], {"x": "-x"})
    with pytest.raises(ValueError, match="both as state and parameter"):
        ODEModel(["x"], {"x": "-x"}, {"x": 1.0})
    with pytest.raises(ValueError, match="used in no equation"):
        ODEModel(["x"], {"x": "-x"}, functions={"F": ["x"]})
    with pytest.raises(RuntimeError, match="slot 'F' is empty"):
        ODEModel(["x"], {"x": "-F(x)"}, functions={"F": ["x"]}).simulate(
            torch.ones(1, 1), torch.linspace(0, 1, 3)
        )


def test_simulation_steps_the_rates_rk4_would_with_every_input_kind():
    # The solver's right-hand side (set up once per simulation) gives what `rates` gives
    # step by step: bounds, a forcing, a time-dependent term and a neural slot included.
    model = ODEModel(
        ["x", "y"],
        {"x": "alpha*x - F(x, y) + P", "y": "-delta*y + 0.8*x*y + t/10"},
        {"alpha": 1.3, "delta": 1.8},
        {"F": ["x", "y"]},
        forcings=["P"],
        substeps=2,
        bounds={"x": (0.0, None)},
    ).double()
    torch.manual_seed(0)
    model.set_slot("F", Neural(["x", "y"], output_range=">=0").double())
    times = torch.linspace(0, 1, 6, dtype=torch.float64)
    rain = torch.rand(6, 2, 1, dtype=torch.float64)
    y0 = torch.tensor([[0.44, 4.63], [1.0, 2.0]], dtype=torch.float64)
    simulated = model.simulate(y0, times, rain)

    def rates(t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        i = int(torch.searchsorted(times, t.reshape(1), right=True).clamp(1, 5)[0])
        w = (t - times[i - 1]) / (times[i] - times[i - 1])
        return model.rates(t, y, rain[i - 1] + w * (rain[i] - rain[i - 1]))

    y, expected = y0, [y0]
    for t0, t1 in zip(times[:-1], times[1:], strict=True):
        h = (t1 - t0) / 2
        for t in (t0, t0 + h):
            k1 = rates(t, y)
            k2 = rates(t + h / 2, y + h / 2 * k1)
            k3 = rates(t + h / 2, y + h / 2 * k2)
            k4 = rates(t + h, y + h * k3)
            y = (y + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)).clamp_min(torch.tensor([0.0, -torch.inf]))
        expected.append(y)
    torch.testing.assert_close(simulated, torch.stack(expected), rtol=1e-12, atol=1e-12)


def test_physical_slot_in_an_ode_model_matches_scipy():
    """A textbook (physical) slot, with a learnable parameter, runs in an ODE model as
    its symbolic twin does."""
    model = lotka_volterra_model(solver="rk4", substeps=4)
    model.set_slot("F", Physical(lambda x, y, c: c * x * y, ["x", "y"], {"c": 0.9}).double())
    times = np.linspace(0, 3, 31)
    out = model.simulate(torch.tensor([[0.44, 4.63]], dtype=torch.float64), torch.tensor(times))
    np.testing.assert_allclose(out[:, 0].detach().numpy(), reference(times), atol=1e-5)
