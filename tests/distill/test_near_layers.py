"""The near front reaches two non-dominated layers behind the front (``api.NEAR_LAYERS``):
on noisy samples the law can rank third among forms of its size."""

from __future__ import annotations

import numpy as np
import sympy

from discover.distill.api import symbolic_fit
from discover.distill.pareto import Candidate, in_play

X_ = sympy.Symbol("x", real=True)
LAW = 10.0 - 0.002 * X_**2
CUBIC = 9.5 - 4e-5 * X_**3
KINK = sympy.Min(-6.0, -0.23 * X_) + 15.0


def _forms(candidates) -> list[str]:
    """Each candidate's form: its terms with the floats made one symbol."""
    c = sympy.Symbol("c")
    return [
        sympy.srepr(k.expression.xreplace({f: c for f in k.expression.atoms(sympy.Float)}))
        for k in candidates
    ]


def test_a_law_third_at_its_size_on_noisy_samples_is_in_play(fixed_engine) -> None:
    """Planted falling-object law ``9.81 - 0.0021175v²`` seen through a network that
    leans towards a cubic and a kinked form, with noise: on the samples the law is third of
    the three forms of complexity 7; the selection rules still score it."""
    rng = np.random.default_rng(0)
    v = np.linspace(0.5, 61.0, 300)
    law = 9.81 - 0.0021175 * v**2
    cubic = 9.5 - 4.2e-5 * v**3
    kink = np.minimum(-6.0, -0.229 * v) + 15.4
    y = 0.3 * law + 0.4 * cubic + 0.3 * kink + 0.3 * rng.normal(size=v.size)
    engine = fixed_engine([sympy.Float(5.0), LAW, CUBIC, KINK])  # three of size 7
    front = symbolic_fit(v[:, None], y, ["x"], engine=engine)
    same_size = sorted((c for c in in_play(front) if c.complexity == 7), key=lambda c: c.loss)
    law_form = _forms([Candidate(LAW, 7, 0.0)])[0]
    assert len(same_size) == 3  # all three are scored, the law among them
    assert _forms(same_size).index(law_form) == 2  # third on the samples
