"""Suite-wide settings and fixtures.

The models under test use small tensors in long loops, where one thread is faster than
two that wait on each other. The Lotka–Volterra case study, shrunk to run in seconds, is
shared by the CLI, reliability and case-study tests.
"""

import shutil
from collections.abc import Callable
from pathlib import Path

import matplotlib
import pytest
import sympy
import torch
import yaml

matplotlib.use("Agg")
torch.set_num_threads(1)

CASE = Path(__file__).parents[1] / "case_studies" / "lotka_volterra"

Case = tuple[dict, Callable[[dict], Path]]
"""``(config, write)``: the fast config as a dict and ``write(config, name)`` that saves a
(changed) config as YAML beside the case study's data.csv and returns its path."""


def _make_case(folder: Path, fast: bool = True) -> Case:
    for name in ("data.csv", "truth.csv"):
        shutil.copy(CASE / name, folder / name)
    config = yaml.safe_load((CASE / "config.yaml").read_text())

    def write(changed: dict, name: str = "config.yaml") -> Path:
        path = folder / name
        path.write_text(yaml.safe_dump(changed))
        return path

    if not fast:
        return config, write
    config["train"].update(iterations=20, lbfgs_iterations=2, eval_every=5, checkpoint_every=2)
    config["distill"] = {
        "engine": "rational",
        # a budget the search never reaches (it takes a fraction of a second): the
        # equations then do not depend on the machine's load
        "time_budget_s": 60,
        "samples": 100,
        "max_complexity": 8,
        "selection": {"rule": "bic", "refit_steps": 1},
        "options": {"max_numerator_terms": 2, "max_denominator_terms": 1},
    }
    config["reinsert"] = {"iterations": 5, "lbfgs_iterations": 1}
    return config, write


@pytest.fixture(scope="session")
def make_case() -> Callable[..., Case]:
    """``make_case(folder, fast=True)``: put the Lotka–Volterra case study into ``folder``,
    shrunk to a few seconds unless ``fast=False`` (see :data:`Case`)."""
    return _make_case


@pytest.fixture
def lv_case(tmp_path) -> Case:
    """The fast case study in the test's temporary folder (see :data:`Case`)."""
    return _make_case(tmp_path)


def _power_law(expr: sympy.Expr) -> tuple[float, dict[str, float]]:
    expr = sympy.powsimp(sympy.expand(expr))
    assert isinstance(expr, sympy.Mul | sympy.Pow | sympy.Symbol), f"{expr} is not a product"
    constant, exponents = 1.0, {}
    for base, exponent in expr.as_powers_dict().items():
        if base.is_Number:
            constant *= float(base) ** float(exponent)
        else:
            assert isinstance(base, sympy.Symbol), f"{base} in {expr} is not an input"
            exponents[base.name] = float(exponent)
    return constant, exponents


@pytest.fixture(scope="session")
def power_law() -> Callable[[sympy.Expr], tuple[float, dict[str, float]]]:
    """``power_law(expr) -> (c, {input: exponent})`` when ``expr`` is a product ``c·Π x^b``
    of its inputs; fails the test (assertion) for any other form."""
    return _power_law
