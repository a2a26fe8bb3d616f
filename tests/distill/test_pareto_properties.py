"""Property: whatever candidates an engine returns, the front's loss falls as complexity rises."""

import math

import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

from discover.distill.pareto import Candidate, ParetoFront, pareto_filter

X = sympy.Symbol("x", real=True)
losses = st.one_of(st.floats(0, 1e3, allow_nan=False), st.just(math.inf), st.just(math.nan))
candidates = st.lists(st.tuples(st.integers(1, 40), losses), min_size=1, max_size=30)


@settings(max_examples=200, deadline=None)
@given(raw=candidates)
def test_front_is_monotone_and_dominates_every_candidate(raw):
    pool = [Candidate(X + k, complexity, loss) for k, (complexity, loss) in enumerate(raw)]
    front = pareto_filter(pool)
    finite = [c for c in pool if math.isfinite(c.loss)]
    assert bool(front) == bool(finite)
    for simpler, richer in zip(front, front[1:], strict=False):
        assert simpler.complexity < richer.complexity
        assert simpler.loss > richer.loss
    for c in finite:  # every finite candidate is matched or beaten by a front member
        assert any(f.complexity <= c.complexity and f.loss <= c.loss for f in front)
    if front:
        chosen = ParetoFront.build(pool, ["x"], "test")
        assert chosen.selected in chosen.candidates
