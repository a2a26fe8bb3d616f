"""A candidate whose text does not parse back (an exponent beyond the expression parser's
limit) is dropped when polished, so that no front or near front holds one that reading
the front back (selection, reinsertion, the run directory) would refuse."""

from __future__ import annotations

import numpy as np
import sympy

from discover.distill.api import symbolic_fit
from discover.distill.pareto import in_play
from discover.expressions import MAX_EXPONENT

X_ = sympy.Symbol("x", real=True)


def test_a_candidate_beyond_the_parser_limits_is_dropped(fixed_engine):
    steep = X_ ** (1.4 * MAX_EXPONENT)  # steeper than the parser accepts
    engine = fixed_engine([steep, 2.0 * X_ + 1.0])
    x = np.linspace(0.97, 1.0, 200)
    y = x ** (1.4 * MAX_EXPONENT)  # the steep law fits exactly: only the parser refuses it
    front = symbolic_fit(x[:, None], y, ["x"], engine=engine)
    kept = in_play(front)  # parses every near-front candidate back
    assert kept, "the line must stay"
    for candidate in kept:
        exponents = [float(p.exp) for p in candidate.expression.atoms(sympy.Pow)]
        assert all(abs(e) <= MAX_EXPONENT for e in exponents), candidate
