"""Selection by retraining: shortlisted candidates trained from scratch and scored on the
validation split; the least complex one not significantly worse than the best is chosen."""

import numpy as np
import pytest
import sympy
import xarray as xr
import yaml
from scipy.integrate import solve_ivp

from discover.config import ConfigError, parse_config
from discover.distill import Candidate, ParetoFront
from discover.distill.selection import parsimonious_choice, shortlist, validation_errors
from discover.study import Study

X = sympy.Symbol("x", real=True)


# -- the rules -------------------------------------------------------------------------
def _front(losses: list[float]) -> ParetoFront:
    candidates = [Candidate(X ** (i + 1), 2 * i + 1, loss) for i, loss in enumerate(losses)]
    return ParetoFront(candidates, ("x",), "test", len(losses) - 1)


def test_shortlist_takes_the_simplest_candidates_within_the_tolerance():
    front = _front([0.5, 0.05, 0.02, 0.01, 0.001])
    assert shortlist(front, spread=1.0, tolerance=0.03, size=2) == [2, 3]
    assert shortlist(front, spread=1.0, tolerance=0.03, size=5) == [2, 3, 4]
    assert shortlist(front, spread=1.0, tolerance=1e-4, size=2) == [4]  # none: the best


def test_the_simpler_candidate_wins_unless_it_is_significantly_worse():
    rng = np.random.default_rng(0)
    best = rng.uniform(0.1, 0.2, 20)
    level = best + rng.normal(0.0, 0.01, 20)  # as good, up to noise
    worse = best + 0.02 + rng.normal(0.0, 0.005, 20)
    tie = parsimonious_choice([3, 7], np.stack([level, best]))
    assert tie.selected == 0 and tie.p_worse[tie.selected] >= 0.05
    clear = parsimonious_choice([3, 7], np.stack([worse, best]))
    assert clear.selected == 1 and clear.best == 1 and clear.p_worse[0] < 0.05


def test_a_failed_candidate_is_never_selected():
    errors = np.array([[np.inf] * 5, [0.3, 0.2, 0.3, 0.2, 0.3], [np.nan] * 5])
    choice = parsimonious_choice([1, 5, 9], errors)
    assert choice.selected == 1 and choice.errors[0] == np.inf and choice.p_worse[0] == 0.0
    with pytest.raises(ValueError, match="no candidate"):
        parsimonious_choice([1, 9], errors[[0, 2]])


def test_validation_errors_per_site_are_one_minus_nse_and_per_block_at_one_site():
    rng = np.random.default_rng(1)
    observed = rng.uniform(0, 1, (40, 3, 1))
    simulated = observed + rng.normal(0, 0.1, observed.shape)
    per_site = validation_errors(simulated, observed)
    nse = 1 - ((simulated - observed) ** 2).sum(0) / ((observed - observed.mean(0)) ** 2).sum(0)
    np.testing.assert_allclose(per_site, 1 - nse[:, 0])
    assert validation_errors(simulated[:, :1], observed[:, :1]).shape == (10,)
    simulated[5, 0, 0] = np.nan
    assert np.isposinf(validation_errors(simulated[:, :1], observed[:, :1])[1])


def test_retrain_selection_needs_a_validation_split():
    raw = yaml.safe_load(_CONFIG)
    del raw["train"]["validation"]
    with pytest.raises(ConfigError, match="train.validation"):
        parse_config(raw)


# -- in a study --------------------------------------------------------------------------
_CONFIG = """
name: selection
seed: 0
data: {path: data.csv, time: t}
model:
  type: ode
  states: [x]
  initial: {x: 1.0}
  equations: {x: "u - F(x)"}
  neural: {F: {inputs: [x], output: ">=0", hidden: [4], activation: softplus}}
  solver: {method: rk4, substeps: 1}
train: {split: 0.8, validation: 0.4, iterations: 15, lr: 0.05, lbfgs_iterations: 0}
distill: {engine: rational, selection: {rule: retrain, shortlist: 2, tolerance: 0.5}}
reinsert: {alternatives: 1}
"""


@pytest.fixture
def write_study(tmp_path):
    """A one-state ODE ``x' = u(t) - F(x)``, ``F = 0.5 x²`` (3 % noise): returns
    ``make(monkeypatch, expressions)`` that sets up the study with the search replaced by
    a front of the given candidates of ``F`` (complexities 3, 5, ...)."""
    t = np.linspace(0.0, 20.0, 101)
    forcing = lambda s: 1.0 + 0.9 * np.sin(s)  # noqa: E731
    solution = solve_ivp(lambda s, x: forcing(s) - 0.5 * x**2, (0, 20), [1.0], t_eval=t, rtol=1e-8)
    x = solution.y[0] * (1 + 0.03 * np.random.default_rng(0).normal(size=t.size))
    lines = ["t,x,u", *(f"{a},{b},{forcing(a)}" for a, b in zip(t, x, strict=True))]
    (tmp_path / "data.csv").write_text("\n".join(lines) + "\n")
    (tmp_path / "config.yaml").write_text(_CONFIG)

    def make(monkeypatch, expressions: list[str]) -> Study:
        candidates = [
            Candidate(sympy.sympify(e, locals={"x": X}), 3 + 2 * i, 0.0, "test")
            for i, e in enumerate(expressions)
        ]
        front = ParetoFront(candidates, ("x",), "test", len(candidates) - 1)
        monkeypatch.setattr("discover.stages.distill.symbolic_fit", lambda *args, **kwargs: front)
        return Study.from_config(tmp_path / "config.yaml", out=tmp_path / "run")

    return make


def test_retraining_keeps_the_simpler_equation_when_the_other_is_no_better(
    write_study, monkeypatch
):
    study = write_study(monkeypatch, ["0.4*x**2", "0.4*x**2 + 0.01*x**3"])
    study.run(progress=False)
    front = study.fronts["F"]
    rows = front.metadata["shortlist"]
    assert [row["complexity"] for row in rows] == [3, 5]
    # the cubic term is spurious: both fit the validation data (within noise of each
    # other) and the simpler one wins
    errors = [row["validation_error"] for row in rows]
    assert max(errors) < 1.5 * min(errors), rows
    assert front.selected.complexity == 3
    assert "least complex" in front.metadata["selection_rule"]
    # the symbolic variant is the model trained during the selection, not refitted again
    assert "refit" not in study.timings and "refit F" not in study.timings
    trained = study.simulations["symbolic"]
    assert study.model.slots["F"].kind == "symbolic"
    np.testing.assert_array_equal(trained, study.workflow.simulate().detach().numpy())
    assert "symbolic:F:5" in study.simulations  # the other shortlisted one, as trained
    with xr.open_dataset(study.out / "slots" / "F.nc") as probed:
        assert probed.attrs["output_range"] == "[0, inf]"  # the report's "output range"


def test_retraining_picks_the_more_complex_equation_when_the_simpler_is_worse(
    write_study, monkeypatch
):
    study = write_study(monkeypatch, ["0.7*x", "0.4*x**2"])
    front = study.distill("F")  # the network's shape does not matter here
    rows = front.metadata["shortlist"]
    assert front.selected.complexity == 5, rows
    assert rows[0]["p_worse"] < 0.05 and rows[0]["validation_error"] > rows[1]["validation_error"]
    trained = study.trained["F"][front.selected_index]
    study.reinsert("F")  # adopts the model trained with it
    assert study.workflow is trained and study.model.slots["F"].kind == "symbolic"


def test_a_candidate_that_fails_in_the_model_scores_inf(write_study, monkeypatch):
    # NaN below x = 10, non-negative above: it stays in the range ">=0" where it is finite
    study = write_study(monkeypatch, ["0.4*x**2*sqrt(x - 10)", "0.4*x**2"])
    front = study.distill("F")
    rows = front.metadata["shortlist"]
    assert rows[0]["validation_error"] == np.inf and front.selected.complexity == 5
