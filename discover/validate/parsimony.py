"""Parsimony: information criteria from Gaussian residuals, beside each variant's complexity.

With independent Gaussian residuals of variance ``σ²`` estimated by maximum likelihood
(``σ̂² = RSS / n``) the maximised log-likelihood is::

    ln L = -n/2 · (ln(2π) + ln(RSS / n) + 1)

and, for ``k`` fitted parameters,

    AIC  = 2k - 2 ln L
    AICc = AIC + 2k(k + 1) / (n - k - 1)
    BIC  = k ln(n) - 2 ln L

Several sites (``[time, site]``) each get their own ``σ̂²``: ``ln L`` is the sum of the
per-site terms and ``n`` the total number of valid steps. The noise variances are not
counted in ``k``: they are the same in number for every variant scored on the same data,
so differences of AIC/BIC between variants are unaffected. Residuals of a simulation are
autocorrelated in time, so ``n`` overstates the independent information: read the
criteria as a ranking, not as calibrated evidence (the paired tests in
:mod:`discover.validate.compare` do not assume independence over time).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import sympy


def estimated_constants(expression: sympy.Expr) -> int:
    """Number of constants of a discovered ``expression`` that were estimated from data.

    Every float counts, and so does every integer that is not an exponent or a sign: an
    equation search fits its constants, and rounding a fitted ``11.97`` to ``12`` does not
    make it known beforehand. Integer exponents (``y**2``) and signs belong to the form.
    """

    def count(node: sympy.Basic, exponent: bool = False) -> int:
        if isinstance(node, sympy.Float):
            return 1
        if isinstance(node, sympy.Integer | sympy.Rational):
            return 0 if exponent or abs(node) == 1 else 1
        if isinstance(node, sympy.Pow):
            return count(node.base) + count(node.exp, exponent=True)
        return sum(count(arg) for arg in node.args)

    return count(sympy.sympify(expression))


def gaussian_log_likelihood(n: int, rss: float) -> float:
    """Maximised Gaussian log-likelihood of ``n`` residuals with sum of squares ``rss``."""
    if n < 1:
        raise ValueError(f"need at least one residual, got n={n}")
    if not rss > 0:
        raise ValueError(f"residual sum of squares must be positive, got {rss}")
    return -0.5 * n * (math.log(2.0 * math.pi) + math.log(rss / n) + 1.0)


def information_criteria(log_likelihood: float, n: int, k: int) -> tuple[float, float, float]:
    """``(AIC, AICc, BIC)`` from a maximised log-likelihood; AICc is NaN unless ``n > k + 1``."""
    aic_value = 2.0 * k - 2.0 * log_likelihood
    small_sample = 2.0 * k * (k + 1) / (n - k - 1) if n > k + 1 else math.nan
    return aic_value, aic_value + small_sample, k * math.log(n) - 2.0 * log_likelihood


def aic(n: int, rss: float, k: int) -> float:
    """Akaike information criterion ``2k - 2 ln L`` (formula in the module docstring)."""
    return information_criteria(gaussian_log_likelihood(n, rss), n, k)[0]


def aicc(n: int, rss: float, k: int) -> float:
    """Small-sample AIC ``AIC + 2k(k+1)/(n-k-1)``; needs ``n > k + 1``."""
    if n <= k + 1:
        raise ValueError(f"AICc needs n > k + 1, got n={n}, k={k}")
    return information_criteria(gaussian_log_likelihood(n, rss), n, k)[1]


def bic(n: int, rss: float, k: int) -> float:
    """Bayesian information criterion ``k ln(n) - 2 ln L``."""
    return information_criteria(gaussian_log_likelihood(n, rss), n, k)[2]


@dataclass(frozen=True)
class Parsimony:
    """Complexity and information criteria of one variant."""

    n: int
    rss: float
    k: int
    complexity: float | None
    log_likelihood: float
    aic: float
    aicc: float
    bic: float


def parsimony_scores(
    sim: np.ndarray, obs: np.ndarray, k: int, complexity: float | None = None
) -> Parsimony:
    """Information criteria of ``sim`` against ``obs`` (``[time]`` or ``[time, site]``,
    NaN observations skipped) for ``k`` fitted parameters; ``complexity`` (e.g. the
    expression size of a symbolic candidate) passes through unchanged."""
    sim = np.asarray(sim, dtype=float)
    obs = np.asarray(obs, dtype=float)
    if sim.shape != obs.shape or sim.ndim not in (1, 2):
        raise ValueError(
            f"sim and obs must share a [time] or [time, site] shape; got {sim.shape}, {obs.shape}"
        )
    if k < 0:
        raise ValueError(f"k (number of fitted parameters) must be >= 0, got {k}")
    sim2, obs2 = (x.reshape(x.shape[0], -1) for x in (sim, obs))
    present = ~np.isnan(obs2)
    if (present & ~np.isfinite(sim2)).any():
        raise ValueError("sim is NaN or infinite where obs are present")
    log_likelihood, n, rss = 0.0, 0, 0.0
    for j in range(obs2.shape[1]):
        keep = present[:, j]
        if not keep.any():
            continue
        site_rss = float(np.sum((sim2[keep, j] - obs2[keep, j]) ** 2))
        if site_rss == 0:
            raise ValueError(f"residuals are all zero at site {j}: the likelihood is unbounded")
        log_likelihood += gaussian_log_likelihood(int(keep.sum()), site_rss)
        n += int(keep.sum())
        rss += site_rss
    if n == 0:
        raise ValueError("obs are all missing (NaN)")
    aic_value, aicc_value, bic_value = information_criteria(log_likelihood, n, k)
    return Parsimony(
        n=n,
        rss=rss,
        k=k,
        complexity=complexity,
        log_likelihood=log_likelihood,
        aic=aic_value,
        aicc=aicc_value,
        bic=bic_value,
    )


def parsimony_table(variants: Mapping[str, Parsimony]) -> pd.DataFrame:
    """One row per variant with ``delta_aic``, ``delta_bic`` (to the best variant) and
    Akaike weights ``exp(-ΔAIC/2) / Σ exp(-ΔAIC/2)``, sorted by AIC."""
    if not variants:
        raise ValueError("no variants given")
    table = pd.DataFrame([{"variant": name, **asdict(p)} for name, p in variants.items()])
    n_values = set(table["n"])
    if len(n_values) > 1:
        raise ValueError(
            f"variants were scored on different numbers of observations {sorted(n_values)}; "
            "information criteria are only comparable on the same data"
        )
    table["delta_aic"] = table["aic"] - table["aic"].min()
    table["delta_bic"] = table["bic"] - table["bic"].min()
    relative = np.exp(-0.5 * table["delta_aic"])
    table["akaike_weight"] = relative / relative.sum()
    return table.sort_values("aic", ignore_index=True)
