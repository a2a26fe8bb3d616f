"""Work done once per form: candidates that differ only in their fitted constants share
their simplification (tidy) and their compiled template (refits), with the same results."""

import numpy as np
import sympy

from discover.distill import constants, tidy
from discover.distill.constants import Template, parametrise
from discover.distill.postprocess import numpy_function
from discover.expressions import parse_expression

NAMES = ["x", "y"]


def test_one_form_is_simplified_once_and_each_candidate_keeps_its_constants(monkeypatch):
    tidy._transformed.cache_clear()
    calls = []
    real = sympy.simplify
    monkeypatch.setattr(sympy, "simplify", lambda e: calls.append(e) or real(e))
    first = tidy.tidy(parse_expression("2.5*x*y + 1.5*x", NAMES))
    second = tidy.tidy(parse_expression("0.7*x*y + 3.25*x", NAMES))
    x, y = sympy.symbols("x y", real=True)
    assert len(calls) == 1
    assert sympy.simplify(first - (2.5 * x * y + 1.5 * x)) == 0
    assert sympy.simplify(second - (0.7 * x * y + 3.25 * x)) == 0
    assert parametrise(first)[0] == parametrise(second)[0]


def test_another_form_is_simplified_on_its_own(monkeypatch):
    tidy._transformed.cache_clear()
    calls = []
    real = sympy.simplify
    monkeypatch.setattr(sympy, "simplify", lambda e: calls.append(e) or real(e))
    tidy.tidy(parse_expression("2.5*x*y + 1.5*x", NAMES))
    tidy.tidy(parse_expression("2.5*x/(y + 1.5)", NAMES))
    assert len(calls) == 2


def test_templates_of_one_form_share_their_compiled_function_and_predict_alike():
    constants.compiled.cache_clear()
    rng = np.random.default_rng(0)
    X = rng.uniform(0.5, 2.0, (50, 2))
    texts = ("1.3*x/(y + 0.4) - 0.2*x", "4.1*x/(y + 2.5) - 0.9*x")
    templates = [Template(parse_expression(t, NAMES), NAMES, X, X[:, 0]) for t in texts]
    assert templates[0]._raw is templates[1]._raw
    assert constants.compiled.cache_info().misses == 1
    for text, template in zip(texts, templates, strict=True):
        expected = numpy_function(parse_expression(text, NAMES), NAMES)(X)
        np.testing.assert_allclose(template.predict(template.values), expected, rtol=1e-12)
