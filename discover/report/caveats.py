"""Caveats a reader needs before trusting a finding, each found in the run's files: near-ties
in the selection, tests too small to reach significance, a flat held-out period, rankings
that change between periods, failed physical checks."""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from discover.report.checks import check_sentence
from discover.report.figures.common import SPLIT_WORDS
from discover.report.rundir import Metrics, SlotEquations

NEAR_TIE_BIC = 2.0
"""BIC differences below this are not evidence for either candidate (Kass and Raftery)."""
FLAT_RATIO = 0.25
"""A held-out period whose observed variance (median over sites) is below this share of
the training period's is called flat: its NSE divides by a small variance."""
TEST_ALPHA = 0.05
"""Significance level the paired tests are read at."""


def lowest_wilcoxon_p(n: int) -> float:
    """Smallest two-sided p-value of the exact Wilcoxon signed-rank test with ``n`` pairs
    (all differences of one sign): ``2·0.5^n``."""
    return min(1.0, 2.0 * 0.5**n)


def small_test(comparisons: pd.DataFrame | None, alpha: float = TEST_ALPHA) -> list[str]:
    """The paired tests over sites that cannot reach ``p < alpha`` with so few sites."""
    if comparisons is None or comparisons.empty:
        return []
    column = "n" if "n" in comparisons else "n_sites" if "n_sites" in comparisons else None
    if column is None:
        return []
    rows = comparisons
    if "unit" in rows:
        rows = rows[rows["unit"].fillna("sites") == "sites"]
    if "test" in rows:
        rows = rows[rows["test"].fillna("Wilcoxon").astype(str).str.startswith("Wilcoxon")]
    sizes = sorted({int(n) for n in pd.to_numeric(rows[column], errors="coerce").dropna()})
    return [
        f"With {n} sites the two-sided Wilcoxon signed-rank test cannot give p below "
        f"{lowest_wilcoxon_p(n):.3g} (reached only when every site favours the same variant), "
        f"so none of these tests can be significant at {alpha:g}: their verdicts are "
        "indications, not evidence."
        for n in sizes
        if lowest_wilcoxon_p(n) > alpha
    ]


def bic_near_ties(slot: str, equations: SlotEquations, bic: Sequence[Any] | None) -> list[str]:
    """Front candidates whose BIC is within :data:`NEAR_TIE_BIC` of the selected one's."""
    if equations.selected is None or not bic or len(bic) != len(equations.pareto):
        return []
    values = np.array([math.nan if b is None else float(b) for b in bic])
    chosen = [i for i, c in enumerate(equations.pareto) if c == equations.selected]
    if not chosen or not np.isfinite(values[chosen[0]]):
        return []
    best = values[chosen[0]]
    return [
        f"Slot {slot}: candidate {c.expression} (complexity {c.complexity}) is within "
        f"ΔBIC {abs(values[i] - best):.3g} of the selected one; differences below "
        f"{NEAR_TIE_BIC:g} do not favour either, so the data do not decide between them."
        for i, c in enumerate(equations.pareto)
        if i != chosen[0] and np.isfinite(values[i]) and abs(values[i] - best) < NEAR_TIE_BIC
    ]


def shortlist_near_alpha(
    slot: str, shortlist: Sequence[Mapping[str, Any]] | None, alpha: float
) -> list[str]:
    """Shortlisted candidates whose p-value of being worse than the best lies within a
    factor two of ``alpha``: a slightly different validation period could flip the pick."""
    found = []
    for row in shortlist or []:
        p = row.get("p_worse")
        if isinstance(p, int | float) and math.isfinite(p) and alpha / 2 <= p <= 2 * alpha:
            found.append(
                f"Slot {slot}: candidate {row.get('expression')} was judged worse than the "
                f"best one with p = {p:.3g}, close to the threshold {alpha:g}; the selection "
                "between them is fragile."
            )
    return found


def flat_periods(simulations: xr.Dataset | None) -> list[str]:
    """Variables whose held-out observations vary much less than in training."""
    if simulations is None or "split" not in simulations.coords:
        return []
    split = simulations["split"].values.astype(str)
    if not ((split == "test").any() and (split == "train").any()):
        return []
    found = []
    for name in simulations.data_vars:
        if not str(name).endswith("_observed"):
            continue
        observed = simulations[name].transpose("time", "site").values.astype(float)
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN site
            held_out = np.nanvar(observed[split == "test"], axis=0)
            training = np.nanvar(observed[split == "train"], axis=0)
            ratio = float(np.nanmedian(held_out / training))
        if np.isfinite(ratio) and ratio < FLAT_RATIO:
            variable = str(name)[: -len("_observed")]
            found.append(
                f"The held-out period is flat for {variable}: its observed variance is "
                f"{ratio:.0%} of the training period's (median over sites). NSE divides the "
                "squared error by that variance, so on the held-out period small absolute "
                "errors give large NSE differences, and NSE there is not comparable with "
                "NSE on the other periods."
            )
    return found


def ranking_changes(metrics: Metrics, variable: str, metric: str = "nse") -> list[str]:
    """When the best variant on the validation period is not the best on the held-out one."""
    best = {}
    for split in ("validation", "test"):
        scores = {
            v: s[split][variable][metric]
            for v, s in metrics.items()
            if split in s and variable in s[split] and metric in s[split][variable]
        }
        scores = {v: x for v, x in scores.items() if math.isfinite(x)}
        if scores:
            best[split] = max(scores.items(), key=lambda item: item[1])
    if len(best) < 2 or best["validation"][0] == best["test"][0]:
        return []
    (v_name, v_score), (t_name, t_score) = best["validation"], best["test"]
    return [
        f"{variable}: {v_name} has the highest median NSE on the {SPLIT_WORDS['validation']} "
        f"({v_score:.3g}), {t_name} on the {SPLIT_WORDS['test']} ({t_score:.3g}). The "
        "validation period was used to choose (equations, or weights), the held-out period "
        "never was: only the held-out verdict is an out-of-sample test. The periods differ "
        "in weather and flow, and a small difference on one of them need not carry over."
    ]


def failed_checks(
    checks: Mapping[str, Mapping[str, Sequence[Mapping[str, Any]]]] | None,
) -> list[str]:
    """Each failed physical check of a discovered equation, with what it tested."""
    return [
        f"Physical check failed for {slot} in variant {variant}: {check_sentence(result)}"
        for variant, slots in (checks or {}).items()
        for slot, results in slots.items()
        for result in results
        if not result.get("passed")
    ]
