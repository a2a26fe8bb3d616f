"""Pareto fronts: complexity, filtering, the selection rule and equations.json shape."""

import json

import pytest
import sympy

from discover.distill.pareto import (
    Candidate,
    ParetoFront,
    expression_complexity,
    pareto_filter,
    select_candidate,
)
from discover.expressions import parse_expression

NAMES = ["s", "p"]


def cand(text: str, loss: float) -> Candidate:
    expr = parse_expression(text, NAMES)
    return Candidate(expr, expression_complexity(expr), loss)


def test_complexity_counts_binary_tree_nodes():
    assert expression_complexity(parse_expression("s", NAMES)) == 1
    assert expression_complexity(parse_expression("s + p", NAMES)) == 3
    assert expression_complexity(parse_expression("s/(s + 1)", NAMES)) == 5
    assert expression_complexity(parse_expression("-s", NAMES)) == 2
    assert expression_complexity(parse_expression("p*min(1, s**2)", NAMES)) == 7


def test_pareto_filter_keeps_rising_complexity_and_falling_loss():
    front = pareto_filter(
        [cand("s*p + s", 0.5), cand("s", 1.0), cand("p", 2.0), cand("s*p", 0.6), cand("s+p", 1.5)]
    )
    assert [str(c.expression) for c in front] == ["s", "p*s", "p*s + s"]
    assert all(a.loss > b.loss for a, b in zip(front, front[1:], strict=False))
    assert all(a.complexity < b.complexity for a, b in zip(front, front[1:], strict=False))


def test_selection_takes_the_largest_log_loss_drop_per_complexity():
    front = pareto_filter([cand("s", 1.0), cand("s*p", 0.01), cand("s*p + s", 0.0099)])
    assert str(front[select_candidate(front)].expression) == "p*s"


def test_selection_respects_the_loss_tolerance():
    # the elbow at s*p has the best score, but its loss is 3x the best: not eligible
    front = pareto_filter([cand("s", 1.0), cand("s*p", 0.03), cand("s*p + s*s", 0.01)])
    assert select_candidate(front, tolerance=1.5) == 2
    assert select_candidate(front, tolerance=5.0) == 1


def test_front_roundtrips_through_equations_json_shape():
    front = ParetoFront.build(
        [cand("0.5*s", 1.0), cand("p*min(1, (s/250)**2)", 0.001)], NAMES, "rational+operon"
    )
    data = json.loads(json.dumps(front.to_dict()))
    assert set(data) == {"inputs", "selected", "pareto", "engine"}
    assert data["inputs"] == NAMES and data["engine"] == "rational+operon"
    assert set(data["selected"]) == {"expression", "complexity", "loss"}
    local = {n: sympy.Symbol(n, real=True) for n in NAMES}
    for entry in [data["selected"], *data["pareto"]]:
        parsed = sympy.sympify(entry["expression"], locals=local)
        assert parsed.free_symbols <= set(local.values())
    again = ParetoFront.from_dict(data)
    assert [c.expression for c in again] == [c.expression for c in front]
    assert again.selected.expression == front.selected.expression
    assert [c.loss for c in again] == [c.loss for c in front]


def test_from_dict_names_missing_keys_and_refuses_foreign_names():
    data = ParetoFront.build([cand("s", 1.0)], NAMES, "rational").to_dict()
    with pytest.raises(KeyError, match="engine"):
        ParetoFront.from_dict({k: v for k, v in data.items() if k != "engine"})
    data["pareto"][0]["expression"] = "__import__('os')"
    with pytest.raises(ValueError):
        ParetoFront.from_dict(data)


def test_str_is_a_table_marking_the_selected_candidate():
    front = ParetoFront.build([cand("s", 1.0), cand("s*p", 0.01)], NAMES, "operon")
    text = str(front)
    marked = [line for line in text.splitlines() if line.strip().startswith("*")]
    assert len(marked) == 1 and "p*s" in marked[0]
    assert "operon" in text and "complexity" in text


def test_empty_front_is_refused():
    with pytest.raises(ValueError, match="no candidate"):
        ParetoFront.build([cand("s", float("nan"))], NAMES, "operon")
