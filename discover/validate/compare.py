"""Paired comparison of two variants: over sites, or over time blocks at one site.

Evidence wording (:func:`evidence`), applied to a two-sided p-value and the 95 %
confidence interval of the median difference:

=====================  ============================================
``strong evidence``    p < 0.01 and the interval excludes zero
``moderate evidence``  p < 0.05 (or p < 0.01 with an interval touching zero)
``weak evidence``      p < 0.10
``no clear evidence``  otherwise (the data do not separate the two)
=====================  ============================================
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from scipy import stats

from discover.validate import metrics as m

CONFIDENCE = 0.95
"""Level of every bootstrap confidence interval."""


def evidence(p_value: float, ci: tuple[float, float]) -> str:
    """Words for the strength of evidence (rule in the module docstring)."""
    if not p_value < 0.10:  # also catches NaN
        return "no clear evidence"
    if p_value < 0.01 and (ci[0] > 0 or ci[1] < 0):
        return "strong evidence"
    if p_value < 0.05:
        return "moderate evidence"
    return "weak evidence"


@dataclass(frozen=True)
class Comparison:
    """Result of comparing variant ``a`` with variant ``b`` on one metric.

    ``difference`` and ``ci`` are of ``a - b`` in the metric's raw units (median over
    sites, or the full-series difference for a block bootstrap); ``share_a_better`` and
    ``share_b_better`` are the shares of sites (or of bootstrap resamples) in which
    ``a`` beats ``b`` and the reverse (ties count in neither); ``n`` counts the sites or
    the bootstrap resamples (``unit``).
    """

    metric: str
    a: str
    b: str
    higher_is_better: bool
    n: int
    unit: str
    share_a_better: float
    share_b_better: float
    difference: float
    ci: tuple[float, float]
    p_value: float
    test: str
    p_adjusted: float | None = None

    @property
    def strength(self) -> str:
        """Evidence words; from the adjusted p-value when there is one."""
        p = self.p_value if self.p_adjusted is None else self.p_adjusted
        return evidence(p, self.ci)

    @property
    def winner(self) -> str | None:
        """The variant the median difference favours (``None`` on a tie)."""
        if self.difference == 0 or math.isnan(self.difference):
            return None
        a_ahead = (self.difference > 0) == self.higher_is_better
        return self.a if a_ahead else self.b

    def _count(self, share: float) -> str:
        if self.unit == "sites":
            return f"{round(share * self.n)} of {self.n} sites"
        return f"{share:.0%} of {self.n} block-bootstrap resamples"

    @property
    def sentence(self) -> str:
        """The comparison in words, e.g. ``"H1 beats H0 on 18 of 20 sites; ..."``."""
        winner = self.winner
        if winner is None:
            head = (
                f"{self.a} and {self.b} are level: {self.a} better on "
                f"{self._count(self.share_a_better)}, "
                f"{self.b} on {self._count(self.share_b_better)}"
            )
        else:
            loser, share = (
                (self.b, self.share_a_better) if winner == self.a else (self.a, self.share_b_better)
            )
            head = f"{winner} beats {loser} on {self._count(share)}"
        # the difference is stated winner − loser (a − b when level), so its sign reads
        # with the sentence
        first, second, sign = (self.b, self.a, -1.0) if winner == self.b else (self.a, self.b, 1.0)
        low, high = sorted((sign * self.ci[0], sign * self.ci[1]))
        median = "median " if self.unit == "sites" else ""
        delta = f"{median}Δ{_display(self.metric)} ({first} − {second})"
        p_text = f"{self.test} p = {_fmt(self.p_value)}"
        if self.p_adjusted is not None:
            p_text += f" (Holm-adjusted {_fmt(self.p_adjusted)})"
        verdict = self.strength
        if verdict == "no clear evidence":
            verdict += " of a difference"
        elif winner is not None:
            verdict += f" for {winner}"
        return (
            f"{head}; {delta} {_fmt(sign * self.difference)} "
            f"[{_fmt(low)}, {_fmt(high)}], {p_text}: {verdict}."
        )

    def as_row(self) -> dict[str, object]:
        """Flat dictionary for a results table."""
        return {
            "metric": self.metric,
            "a": self.a,
            "b": self.b,
            "n": self.n,
            "unit": self.unit,
            "share_a_better": self.share_a_better,
            "share_b_better": self.share_b_better,
            "difference": self.difference,
            "ci_low": self.ci[0],
            "ci_high": self.ci[1],
            "p_value": self.p_value,
            "p_adjusted": self.p_adjusted,
            "test": self.test,
            "winner": self.winner,
            "strength": self.strength,
            "sentence": self.sentence,
        }


def _display(label: str) -> str:
    """``"|pbias|"`` -> ``"|PBIAS|"``: metric keys in a label written as in reports."""
    return re.sub(r"[a-z_]+", lambda w: m.DISPLAY_NAMES.get(w[0], w[0]), label)


def _fmt(x: float) -> str:
    return f"{x:.2g}" if abs(x) < 1e-3 and x != 0 else f"{x:.3g}"


def _percentile_ci(samples: np.ndarray) -> tuple[float, float]:
    tail = (1.0 - CONFIDENCE) / 2.0
    low, high = np.quantile(samples, [tail, 1.0 - tail])
    return float(low), float(high)


def bootstrap_median_ci(
    differences: np.ndarray, *, n_boot: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap 95 % interval of the median of ``differences`` ``[site]``,
    resampling sites with replacement ``n_boot`` times (seeded, reproducible)."""
    d = np.asarray(differences, dtype=float)
    if d.ndim != 1 or d.size == 0 or not np.isfinite(d).all():
        raise ValueError("differences must be a non-empty 1-D array of finite values")
    if n_boot < 1:
        raise ValueError(f"n_boot must be positive, got {n_boot}")
    rng = np.random.default_rng(seed)
    index = rng.integers(0, d.size, size=(n_boot, d.size))
    return _percentile_ci(np.median(d[index], axis=1))


def paired_comparison(
    a: np.ndarray,
    b: np.ndarray,
    metric_name: str,
    higher_is_better: bool = True,
    n_boot: int = 2000,
    seed: int = 0,
    *,
    names: tuple[str, str] = ("A", "B"),
) -> Comparison:
    """Compare two variants by their metric at the same sites, ``a`` and ``b`` ``[site]``.

    Sites where either value is NaN are dropped. The test is the two-sided Wilcoxon
    signed-rank test of ``a - b`` (``scipy.stats.wilcoxon`` with its defaults: exact
    distribution for small samples without ties, zero differences discarded); the
    interval is a percentile bootstrap of the median difference over sites.
    For metrics with an ideal value in the middle (bias, FHV, ...) pass the distance to
    it (see :func:`oriented_scores`) with ``higher_is_better=False``.
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if a.ndim != 1 or a.shape != b.shape:
        raise ValueError(f"a and b must be 1-D [site] of equal length; got {a.shape}, {b.shape}")
    keep = np.isfinite(a) & np.isfinite(b)
    d = a[keep] - b[keep]
    if d.size < 2:
        raise ValueError(
            f"need at least 2 sites where both {names[0]} and {names[1]} have a finite "
            f"{metric_name}; got {d.size} (use block_bootstrap_comparison for one site)"
        )
    p = 1.0 if not d.any() else float(stats.wilcoxon(d).pvalue)
    a_better, b_better = (d > 0, d < 0) if higher_is_better else (d < 0, d > 0)
    return Comparison(
        metric=metric_name,
        a=names[0],
        b=names[1],
        higher_is_better=higher_is_better,
        n=int(d.size),
        unit="sites",
        share_a_better=float(a_better.mean()),
        share_b_better=float(b_better.mean()),
        difference=float(np.median(d)),
        ci=bootstrap_median_ci(d, n_boot=n_boot, seed=seed),
        p_value=p,
        test="Wilcoxon",
    )


def default_block_length(n_time: int) -> int:
    """Block length ``ceil(n^(1/3))`` time steps (the order Hall, Horowitz and Jing, 1995,
    Biometrika 82, find optimal for bootstrap variance estimates); for daily streamflow a
    longer, physically motivated block (30 days, a year) is often the better choice."""
    return max(1, math.ceil(n_time ** (1.0 / 3.0)))


def circular_block_indices(
    n_time: int, block_length: int, n_boot: int, rng: np.random.Generator
) -> np.ndarray:
    """Index arrays ``[n_boot, n_time]`` of a circular block bootstrap: blocks of
    ``block_length`` consecutive steps starting at uniform random positions, wrapping
    around the end of the series, concatenated and cut to ``n_time``."""
    if not 1 <= block_length <= n_time:
        raise ValueError(f"block_length must be in [1, {n_time}], got {block_length}")
    n_blocks = math.ceil(n_time / block_length)
    starts = rng.integers(0, n_time, size=(n_boot, n_blocks, 1))
    index = (starts + np.arange(block_length)) % n_time
    return index.reshape(n_boot, -1)[:, :n_time]


def block_bootstrap_comparison(
    sim_a: np.ndarray,
    sim_b: np.ndarray,
    obs: np.ndarray,
    metric_name: str = "nse",
    *,
    names: tuple[str, str] = ("A", "B"),
    block_length: int | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    min_points: int = m.MIN_POINTS,
) -> Comparison:
    """Compare two simulations ``[time]`` of one site against the same ``obs`` ``[time]``.

    The metric difference ``a - b`` is recomputed on ``n_boot`` circular block bootstrap
    resamples of the time axis (the same resampled steps for both simulations; missing
    observations stay missing and are skipped by the metric). Block length defaults to
    :func:`default_block_length`. The interval is the percentile interval of the
    resampled differences; the two-sided p-value is twice the smaller share of resamples
    on either side of zero (ties count half), floored at ``1 / n_boot``. For metrics with
    a middle optimum (bias, FHV, ...) the distance to the optimum is compared.
    """
    m.valid_pairs(sim_a, obs, min_points=min_points, label=names[0])
    m.valid_pairs(sim_b, obs, min_points=min_points, label=names[1])
    sim_a, sim_b, obs = (np.asarray(x, dtype=float) for x in (sim_a, sim_b, obs))
    n_time = obs.size
    length = default_block_length(n_time) if block_length is None else block_length
    index = circular_block_indices(n_time, length, n_boot, np.random.default_rng(seed))
    label, higher = _orientation(metric_name)
    higher_is_better = False if higher is None else higher

    def score(sim: np.ndarray, steps: np.ndarray | slice) -> float:
        value = m.metric(metric_name, sim[steps], obs[steps], min_points=min_points)
        return float(oriented_scores(metric_name, value)[1])

    full = score(sim_a, slice(None)) - score(sim_b, slice(None))
    boot = np.array([score(sim_a, steps) - score(sim_b, steps) for steps in index])
    boot = boot[np.isfinite(boot)]
    if boot.size == 0:
        raise ValueError(f"{metric_name} is undefined on every bootstrap resample")
    a_better, b_better = (boot > 0, boot < 0) if higher_is_better else (boot < 0, boot > 0)
    below = np.mean(boot < 0) + 0.5 * np.mean(boot == 0)
    p = max(min(1.0, 2.0 * min(below, 1.0 - below)), 1.0 / boot.size)
    return Comparison(
        metric=label,
        a=names[0],
        b=names[1],
        higher_is_better=higher_is_better,
        n=int(boot.size),
        unit="resamples",
        share_a_better=float(a_better.mean()),
        share_b_better=float(b_better.mean()),
        difference=float(full),
        ci=_percentile_ci(boot),
        p_value=float(p),
        test=f"block bootstrap (block {length} steps)",
    )


def _orientation(metric_name: str) -> tuple[str, bool | None]:
    """Label and direction: ``(name, True/False)`` for one-sided metrics, and
    ``("|name - optimum|", None)`` for metrics judged by distance to their optimum."""
    if metric_name not in m.OPTIMUM:
        raise KeyError(f"unknown metric {metric_name!r}; choose from {list(m.OPTIMUM)}")
    if metric_name in m.ONE_SIDED:
        return metric_name, m.ONE_SIDED[metric_name]
    optimum = m.OPTIMUM[metric_name]
    return (f"|{metric_name}|" if optimum == 0 else f"|{metric_name} - {optimum:g}|"), None


def oriented_scores(metric_name: str, values: np.ndarray) -> tuple[str, np.ndarray, bool]:
    """Values ready for comparison: raw for NSE, KGE, r (higher better) and RMSE (lower
    better); the distance to the optimum (lower better) for the others.
    Returns ``(label, values, higher_is_better)``."""
    label, higher = _orientation(metric_name)
    values = np.asarray(values, dtype=float)
    if higher is None:
        return label, np.abs(values - m.OPTIMUM[metric_name]), False
    return label, values, higher


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (family-wise error control over the pairs)."""
    p = np.asarray(p_values, dtype=float)
    order = np.argsort(p)
    scaled = (p.size - np.arange(p.size)) * p[order]
    adjusted = np.empty_like(p)
    adjusted[order] = np.minimum(1.0, np.maximum.accumulate(scaled))
    return adjusted


def _results_table(comparisons: list[Comparison]) -> pd.DataFrame:
    adjusted: list[Comparison] = []
    for metric_name in dict.fromkeys(c.metric for c in comparisons):
        group = [c for c in comparisons if c.metric == metric_name]
        for c, p in zip(group, holm([c.p_value for c in group]), strict=True):
            adjusted.append(replace(c, p_adjusted=float(p)) if len(group) > 1 else c)
    return pd.DataFrame([c.as_row() for c in adjusted])


def compare_variants(
    table: pd.DataFrame,
    metrics: Sequence[str] = ("nse", "kge"),
    *,
    variants: Sequence[str] | None = None,
    n_boot: int = 2000,
    seed: int = 0,
) -> pd.DataFrame:
    """Paired comparison over sites of every pair of variants, for each metric.

    ``table`` is tidy with columns ``variant, site, metric, value`` (as from
    :func:`discover.validate.metrics.score_variants`). Pairs follow the order of
    ``variants`` (default: order of appearance), ``a`` being the earlier one. When a
    metric has several pairs, p-values are also Holm-adjusted over them and the
    evidence words use the adjusted value. Returns one row per (metric, pair) with
    :meth:`Comparison.as_row` columns, including the ``sentence`` in words.
    """
    missing = {"variant", "site", "metric", "value"} - set(table.columns)
    if missing:
        raise ValueError(f"table lacks columns {sorted(missing)}")
    order = list(dict.fromkeys(table["variant"])) if variants is None else list(variants)
    if len(order) < 2:
        raise ValueError(f"need at least two variants to compare, got {order}")
    comparisons = []
    for metric_name in metrics:
        wide = table[table["metric"] == metric_name].pivot(
            index="site", columns="variant", values="value"
        )
        absent = [v for v in order if v not in wide.columns]
        if absent:
            raise ValueError(f"no {metric_name!r} values for variants {absent}")
        for a, b in itertools.combinations(order, 2):
            label, va, higher = oriented_scores(metric_name, wide[a].to_numpy())
            _, vb, _ = oriented_scores(metric_name, wide[b].to_numpy())
            comparisons.append(paired_comparison(va, vb, label, higher, n_boot, seed, names=(a, b)))
    return _results_table(comparisons)


def compare_series(
    sims: Mapping[str, np.ndarray],
    obs: np.ndarray,
    metrics: Sequence[str] = ("nse", "kge"),
    *,
    block_length: int | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    min_points: int = m.MIN_POINTS,
) -> pd.DataFrame:
    """Block-bootstrap comparison of every pair of simulations ``{variant: [time]}`` at
    one site; same columns as :func:`compare_variants`."""
    order = list(sims)
    if len(order) < 2:
        raise ValueError(f"need at least two variants to compare, got {order}")
    comparisons = [
        block_bootstrap_comparison(
            sims[a],
            sims[b],
            obs,
            metric_name,
            names=(a, b),
            block_length=block_length,
            n_boot=n_boot,
            seed=seed,
            min_points=min_points,
        )
        for metric_name in metrics
        for a, b in itertools.combinations(order, 2)
    ]
    return _results_table(comparisons)
