"""The linearised problem of one library of the rational engine
(:mod:`discover.distill.engines.rational`): residuals of term choices, alone or in
batches, and the fitted ``N / D`` of one."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import sympy

if TYPE_CHECKING:
    from discover.distill.engines.rational import _View


class RationalSystem:
    """The linearised problem ``t * m_fixed = sum n_a m_a - sum d_b t m_b`` of one view,
    as the Gram matrix of the normalised columns ``[M, t * M]``."""

    def __init__(self, view: _View, y: np.ndarray):
        self.view, self.y = view, y
        if view.log_target:
            rows = y > 0
            target, weight = np.log(y[rows]), y[rows]
        else:
            rows = np.ones(len(y), dtype=bool)
            target, weight = y, np.ones(len(y))
        M = view.columns[rows]
        columns = np.concatenate([M, target[:, None] * M], axis=1) * weight[:, None]
        self.scale = np.sqrt(np.mean(columns**2, axis=0))
        self.n_terms = M.shape[1]
        self.gram = None
        if len(target) > 2 * self.n_terms and np.all(self.scale > 0):
            normalised = columns / self.scale
            if np.all(np.isfinite(normalised)):
                self.gram = normalised.T @ normalised

    def _solve(self, num, fixed, den) -> tuple[np.ndarray, list[int], int] | None:
        chosen = list(num) + [self.n_terms + b for b in den]
        target = self.n_terms + fixed
        try:
            w = np.linalg.solve(self.gram[np.ix_(chosen, chosen)], self.gram[chosen, target])
        except np.linalg.LinAlgError:
            return None
        return w, chosen, target

    def residual(self, num, fixed, den) -> float:
        """Linearised residual sum of squares relative to the target's (0 = perfect)."""
        solved = self._solve(num, fixed, den)
        if solved is None:
            return np.inf
        w, chosen, target = solved
        value = 1.0 - float(self.gram[chosen, target] @ w) / float(self.gram[target, target])
        return value if np.isfinite(value) else np.inf

    def residuals(self, choices: Sequence[tuple]) -> np.ndarray:
        """:meth:`residual` of every choice ``[choices]``, solved together for the choices
        of each size (one batched ``numpy.linalg.solve``; one at a time for a batch with a
        singular system)."""
        scores = np.full(len(choices), np.inf)
        sizes: dict[int, list[int]] = {}
        for i, (num, _, den) in enumerate(choices):
            sizes.setdefault(len(num) + len(den), []).append(i)
        for rows in sizes.values():
            chosen = np.array(
                [[*choices[i][0], *(self.n_terms + b for b in choices[i][2])] for i in rows]
            )
            target = np.array([self.n_terms + choices[i][1] for i in rows])
            rhs = self.gram[chosen, target[:, None]]
            try:
                w = np.linalg.solve(
                    self.gram[chosen[:, :, None], chosen[:, None, :]], rhs[..., None]
                )
            except np.linalg.LinAlgError:
                scores[rows] = [self.residual(*choices[i]) for i in rows]
                continue
            with np.errstate(all="ignore"):
                value = 1.0 - (rhs[:, None, :] @ w)[:, 0, 0] / self.gram[target, target]
            scores[rows] = np.where(np.isfinite(value), value, np.inf)
        return scores

    def fit(self, num, fixed, den) -> tuple[np.ndarray, np.ndarray, float] | None:
        """Numerator and denominator coefficients of the fitted ``N / D`` (or
        ``exp(N / D)``) and its mean squared error on ``y``; ``None`` when the denominator
        crosses zero on the samples or the fit fails."""
        solved = self._solve(num, fixed, den)
        if solved is None:
            return None
        w, chosen, target = solved
        coef = w * self.scale[target] / self.scale[chosen]
        if not np.all(np.isfinite(coef)):
            return None
        coef_num, coef_den = coef[: len(num)], -coef[len(num) :]
        M = self.view.columns
        denominator = M[:, fixed] + M[:, list(den)] @ coef_den
        if not (np.all(denominator > 0) or np.all(denominator < 0)):
            return None
        if np.min(np.abs(denominator)) < 1e-8 * np.max(np.abs(denominator)):
            return None
        with np.errstate(all="ignore"):
            pred = (M[:, list(num)] @ coef_num) / denominator
            if self.view.log_target:
                pred = np.exp(pred)
            loss = float(np.mean((pred - self.y) ** 2))
        if not np.isfinite(loss):
            return None
        return coef_num, coef_den, loss

    def expression(self, num, fixed, den) -> sympy.Expr:
        """The fitted ``N / D`` (or ``exp(N / D)``) of a choice that :meth:`fit` accepted."""
        fitted = self.fit(num, fixed, den)
        if fitted is None:
            raise ValueError(f"choice {(num, fixed, den)} has no valid fit")
        coef_num, coef_den, _ = fitted
        terms = self.view.terms
        numerator = sum(sympy.Float(c) * terms[j] for c, j in zip(coef_num, num, strict=True))
        denominator = terms[fixed] + sum(
            sympy.Float(c) * terms[j] for c, j in zip(coef_den, den, strict=True)
        )
        ratio = numerator / denominator
        return sympy.exp(ratio) if self.view.log_target else ratio
