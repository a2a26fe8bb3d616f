"""Integer-exponent variants of distilled candidates, for the selection rules to score.

An engine fits an exponent as a float (``x**2.9998``); rounding keeps an integer exponent
only when it costs at most ``rounding_tolerance`` of the loss against the network
(:func:`~discover.distill.constants.round_constants`), and against a near-exact network a
law's integer costs more than that. An integer exponent is part of the form, not a constant
estimated from data (:func:`~discover.validate.parsimony.estimated_constants`), and it stays
fixed when the equation is refitted in the model (``Symbolic`` trains floats only), whereas
a float exponent drifts. :func:`snapped_candidates` therefore offers, beside the front, each
candidate with its near-integer exponents made integers (its other constants refitted), and
the rules that refit candidates in the model decide whether the data tell the two apart.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import sympy

from discover.distill.pareto import Candidate, expression_complexity
from discover.distill.postprocess import blows_up, polish

SNAP_DISTANCE = 0.1
"""Float exponents at most this far from a nonzero integer are snapped to it (a bound on
how many variants are offered; whether a snap is right is the selection's question)."""


def integer_exponents(expr: sympy.Expr) -> sympy.Expr | None:
    """``expr`` with every float exponent within :data:`SNAP_DISTANCE` of a nonzero integer
    made that integer (``-1.0*x**2.9998`` → ``-1.0*x**3``); ``None`` when there is none."""

    def snappable(node: sympy.Basic) -> bool:
        if not (isinstance(node, sympy.Pow) and isinstance(node.exp, sympy.Float)):
            return False
        nearest = round(float(node.exp))
        return nearest != 0 and abs(float(node.exp) - nearest) <= SNAP_DISTANCE

    if not any(snappable(node) for node in sympy.preorder_traversal(expr)):
        return None
    return expr.replace(
        snappable, lambda node: sympy.Pow(node.base, sympy.Integer(round(float(node.exp))))
    )


def snapped_candidates(
    candidates: Iterable[Candidate],
    names: Sequence[str],
    X: np.ndarray,
    y: np.ndarray,
    tolerance: float = 0.01,
) -> list[Candidate]:
    """The integer-exponent variant (:func:`integer_exponents`) of each candidate that has
    one, polished on the samples ``X`` ``[samples, len(names)]``, ``y`` ``[samples]``
    (:func:`~discover.distill.postprocess.polish` with ``tolerance``: floats refitted,
    merged, rounded); variants whose form (the expression up to its floats) one of the
    candidates or an earlier variant already has, or that blow up near the samples
    (:func:`~discover.distill.postprocess.blows_up`), are left out."""
    candidates = list(candidates)
    seen = {_form(c.expression) for c in candidates}
    variants = []
    for candidate in candidates:
        snapped = integer_exponents(candidate.expression)
        polished = None if snapped is None else polish(snapped, names, X, y, tolerance)
        if polished is None or _form(polished[0]) in seen or blows_up(polished[0], names, X, y):
            continue
        expr, loss = polished
        seen.add(_form(expr))
        variants.append(Candidate(expr, expression_complexity(expr), loss, candidate.engine))
    return variants


def _form(expr: sympy.Expr) -> str:
    """``expr`` up to the values of its floats (each float one placeholder)."""
    return sympy.srepr(expr.xreplace({f: sympy.Symbol("c") for f in expr.atoms(sympy.Float)}))
