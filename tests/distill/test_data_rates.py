"""A slot's outputs estimated from the data's rates of change, and the candidates fitted
to them joining the network's near front (discover/distill/data_rates.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import sympy
import torch
import yaml
from scipy.integrate import solve_ivp

from discover.distill.data_rates import DATA_ENGINE, rate_samples
from discover.distill.pareto import in_play
from discover.models.ode import ODEModel
from discover.processes import Neural
from discover.stages.distill import distill_slot
from discover.study import Study


def solved(rates, starts, times):
    """States [time, site, state] of ``rates`` from each initial condition of ``starts``."""
    runs = [
        solve_ivp(lambda _t, u: rates(u), times[[0, -1]], y0, t_eval=times, rtol=1e-10).y.T
        for y0 in starts
    ]
    return np.stack(runs, axis=1)


def test_the_other_terms_are_subtracted_and_the_slot_factor_divided_out():
    # dx/dt = G(x) - 2*F(x) + 0.3 with G a network: F's samples are (rate - G - 0.3)/-2
    torch.manual_seed(0)
    model = ODEModel(["x"], {"x": "G(x) - 2*F(x) + 0.3"}, functions={"F": ["x"], "G": ["x"]})
    model.set_slot("F", Neural(["x"]))
    model.set_slot("G", network := Neural(["x"]))
    times = np.linspace(0.0, 6.0, 61)
    observed = solved(lambda u: [0.3 - 0.8 * u[0]], [[0.2], [4.0]], times)  # F = 0.4*x here
    found = rate_samples(model, "F", times, observed)
    assert found.states == ["x"] and found.skipped == {}
    X, y, names = found.samples
    assert names == ("x",) and len(y) == 2 * (61 - 4)  # two series, two times off each end
    with torch.no_grad():
        g = network({"x": torch.as_tensor(X[:, 0], dtype=torch.float32)}).double().numpy()
    rate = 0.3 - 0.8 * X[:, 0]
    np.testing.assert_allclose(g - 2 * y + 0.3, rate, atol=0.02 * np.ptp(rate))
    assert isinstance(model.slots["F"], Neural)  # put back


def test_states_that_cannot_give_samples_are_skipped_with_a_reason():
    model = ODEModel(
        ["x", "y", "z"],
        {"x": "F(x, y)", "y": "-y", "z": "exp(F(x, y)) - z"},
        functions={"F": ["x", "y"]},
    )
    model.set_slot("F", Neural(["x", "y"]))
    times = np.linspace(0.0, 2.0, 21)
    observed = solved(lambda u: [-u[0], -u[1], -u[2]], [[1.0, 1.0, 1.0]], times)
    observed[:, :, 1] = np.nan  # y is never observed
    found = rate_samples(model, "F", times, observed)
    assert found.samples is None and found.states == []
    assert "unobserved state(s) ['y']" in found.skipped["x"]
    assert "not affine" in found.skipped["z"] or "unobserved" in found.skipped["z"]
    observed = solved(lambda u: [-u[0], -u[1], -u[2]], [[1.0, 1.0, 1.0]], times)
    found = rate_samples(model, "F", times, observed)
    assert found.skipped == {"z": "its equation is not affine in F"}
    assert found.states == ["x"] and found.samples is not None


def test_a_poor_network_misses_the_law_that_the_data_rates_give(tmp_path):
    # dx/dt = 2.1*x - 0.5*x**2 with F a network trained for 5 steps only
    law = lambda x: 2.1 * x - 0.5 * x**2  # noqa: E731
    times = np.linspace(0.0, 8.0, 41)
    states = solved(lambda u: [law(u[0])], [[0.2], [6.0]], times)[:, :, 0]
    rows = [{"t": t, "site": s, "x": states[i, s]} for i, t in enumerate(times) for s in (0, 1)]
    pd.DataFrame(rows).to_csv(tmp_path / "data.csv", index=False)
    config = {
        "seed": 0,
        "data": {"path": "data.csv", "time": "t", "site": "site"},
        "model": {"type": "ode", "states": ["x"], "equations": {"x": "F(x)"}, "neural": {}},
        "train": {"split": 0.75, "iterations": 5, "lbfgs_iterations": 0, "collocation": False},
        "distill": {"engine": "rational", "time_budget_s": 1, "samples": 200, "max_complexity": 9},
    }
    config["model"]["neural"]["F"] = {"inputs": ["x"]}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    study = Study.from_config(tmp_path / "config.yaml", out=tmp_path / "run")
    study.fit(progress=False)
    front = distill_slot(study.workflow, "F", study.config.distill, seed=0).front
    x = sympy.Symbol("x", real=True)
    quadratic = lambda e: sympy.Poly(e, x).degree() == 2 and e.subs(x, 0) == 0  # noqa: E731
    is_law = lambda c: c.expression.is_polynomial(x) and quadratic(c.expression)  # noqa: E731
    candidates = in_play(front)
    assert not any(is_law(c) for c in candidates if c.engine == "rational"), front
    found = [c for c in candidates if c.engine == DATA_ENGINE.format(engine="rational")]
    laws = [c for c in found if is_law(c)]
    assert laws, [c.text() for c in found]
    assert front.metadata["data_rates"]["states"] == ["x"]
    rhs = sympy.lambdify(x, laws[0].expression)
    unseen = np.linspace(0.0, 8.0, 41)
    truth = solved(lambda u: [law(u[0])], [[1.0]], unseen)[:, 0, 0]
    found_run = solved(lambda u: [rhs(u[0])], [[1.0]], unseen)[:, 0, 0]
    assert np.max(np.abs(found_run - truth) / truth) < 0.02
