"""LaTeX rendering and evaluation of equation strings."""

from __future__ import annotations

import numpy as np

from discover.report.equations import call_latex, evaluate, model_equation_latex, to_latex


def test_latex_rounds_numbers_and_keeps_underscored_names_whole() -> None:
    latex = to_latex("0.123456789*soil_moisture", ["soil_moisture"])
    assert latex == r"0.1235 \mathrm{soil\_moisture}"


def test_unsafe_or_undeclared_strings_give_no_latex() -> None:
    assert to_latex("__import__('os').system('ls')", ["x"]) is None
    assert to_latex("x + z", ["x"]) is None
    assert evaluate("x + z", ["x"], np.ones((3, 1))) is None


def test_evaluate_on_samples() -> None:
    X = np.array([[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_allclose(evaluate("x*y/(1 + x)", ["x", "y"], X), [1.0, 3.0])
    np.testing.assert_allclose(evaluate("2.5", ["x", "y"], X), [2.5, 2.5])


def test_model_equation_keeps_unknown_functions_and_forcings() -> None:
    latex = model_equation_latex("alpha*x - F(x, y) + P", {"F": 2})
    assert latex is not None and r"\alpha x" in latex and "F" in latex and "P" in latex
    assert model_equation_latex("alpha*x - H(x)", {"F": 2}) is None
    assert call_latex("F", ["x", "y"]) == r"F\left(x, y\right)"
    assert call_latex("et_pot", ["t_air"]) == r"\mathrm{et\_pot}\left(\mathrm{t\_air}\right)"
