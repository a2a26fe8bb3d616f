"""Goodness-of-fit metrics of a simulation against observations, per site and variable.

Every metric takes 1-D arrays ``sim`` and ``obs`` of shape ``[time]`` in the same units.
Time steps where ``obs`` is NaN are skipped (never filled); a non-finite ``sim`` where
``obs`` is valid, an infinite ``obs``, or fewer than ``min_points`` valid steps raise a
``ValueError`` that names the site (``label``). Where a metric is undefined for the data
(e.g. NSE on constant observations) it returns NaN and emits a :class:`MetricWarning`
naming the site, so one odd site never stops the scoring of the others.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd

MIN_POINTS = 10
"""Default minimum number of valid (non-missing) time steps for a metric."""

FLOW_FLOOR = 1e-6
"""Flows at or below zero are raised to this value (in the flow's units) before the
logarithm in :func:`flv`."""

Array = np.ndarray


class MetricWarning(UserWarning):
    """A metric is undefined for the data given (it is returned as NaN)."""


class KGE(NamedTuple):
    """Kling-Gupta efficiency and its three parts (Gupta et al., 2009)."""

    kge: float
    r: float
    alpha: float
    beta: float


def _where(label: str | None) -> str:
    return f" at {label}" if label else ""


def valid_pairs(
    sim: Array, obs: Array, *, min_points: int = MIN_POINTS, label: str | None = None
) -> tuple[Array, Array]:
    """Return ``sim`` and ``obs`` at the time steps where ``obs`` is present.

    Raises:
        ValueError: shapes differ or are not 1-D, ``obs`` is all missing or infinite,
            ``sim`` is NaN/inf where ``obs`` is valid, or fewer than ``min_points`` remain.
    """
    sim = np.asarray(sim, dtype=float)
    obs = np.asarray(obs, dtype=float)
    where = _where(label)
    if sim.ndim != 1 or obs.ndim != 1 or sim.shape != obs.shape:
        raise ValueError(
            f"sim and obs must be 1-D [time] arrays of the same length{where}; "
            f"got shapes {sim.shape} and {obs.shape}"
        )
    if np.isinf(obs).any():
        raise ValueError(f"obs contain infinite values{where}")
    present = ~np.isnan(obs)
    if not present.any():
        raise ValueError(f"obs are all missing (NaN){where}")
    bad_sim = present & ~np.isfinite(sim)
    if bad_sim.any():
        raise ValueError(
            f"sim is NaN or infinite at {int(bad_sim.sum())} time steps with observations{where}"
        )
    n_valid = int(present.sum())
    if n_valid < min_points:
        raise ValueError(
            f"only {n_valid} valid observations{where}; at least {min_points} are needed"
        )
    return sim[present], obs[present]


def _undefined(message: str, label: str | None) -> float:
    warnings.warn(f"{message}{_where(label)}; returning NaN", MetricWarning, stacklevel=3)
    return float("nan")


def _nse(s: Array, o: Array, label: str | None) -> float:
    spread = np.sum((o - o.mean()) ** 2)
    if spread == 0:
        return _undefined("obs are constant, so NSE is undefined", label)
    return float(1.0 - np.sum((s - o) ** 2) / spread)


def _kge(s: Array, o: Array, label: str | None) -> KGE:
    nan = float("nan")
    std_s, std_o, mean_o = s.std(), o.std(), o.mean()
    if std_o == 0:
        _undefined("obs are constant, so KGE (r and alpha) is undefined", label)
        r = alpha = nan
    else:
        alpha = float(std_s / std_o)
        if std_s == 0:
            r = _undefined("sim is constant, so the KGE correlation r is undefined", label)
        else:
            r = float(np.corrcoef(s, o)[0, 1])
    if mean_o == 0:
        beta = _undefined("obs have zero mean, so the KGE bias ratio beta is undefined", label)
    else:
        beta = float(s.mean() / mean_o)
    value = 1.0 - np.sqrt((r - 1.0) ** 2 + (alpha - 1.0) ** 2 + (beta - 1.0) ** 2)
    return KGE(float(value), r, alpha, beta)


def _rmse(s: Array, o: Array, label: str | None) -> float:
    return float(np.sqrt(np.mean((s - o) ** 2)))


def _bias(s: Array, o: Array, label: str | None) -> float:
    return float(np.mean(s - o))


def _pbias(s: Array, o: Array, label: str | None) -> float:
    total = o.sum()
    if total == 0:
        return _undefined("obs sum to zero, so percent bias is undefined", label)
    return float(100.0 * (s - o).sum() / total)


def _segment_size(n: int, fraction: float, minimum: int) -> int:
    if not 0 < fraction <= 1:
        raise ValueError(f"flow-duration fraction must be in (0, 1], got {fraction}")
    return min(n, max(minimum, round(fraction * n)))


def _fhv(s: Array, o: Array, label: str | None, h: float = 0.02) -> float:
    m = _segment_size(len(o), h, 1)
    high_s = np.sort(s)[::-1][:m]
    high_o = np.sort(o)[::-1][:m]
    total = high_o.sum()
    if total == 0:
        return _undefined("the highest observed flows sum to zero, so FHV is undefined", label)
    return float(100.0 * (high_s.sum() - total) / total)


def _flv(s: Array, o: Array, label: str | None, l: float = 0.3) -> float:  # noqa: E741
    m = _segment_size(len(o), l, 2)
    low_s = np.log(np.maximum(np.sort(s)[:m], FLOW_FLOOR))
    low_o = np.log(np.maximum(np.sort(o)[:m], FLOW_FLOOR))
    spread_s = np.sum(low_s - low_s[0])
    spread_o = np.sum(low_o - low_o[0])
    if spread_o == 0:
        return _undefined("the lowest observed flows are all equal, so FLV is undefined", label)
    return float(-100.0 * (spread_s - spread_o) / spread_o)


def nse(sim: Array, obs: Array, *, min_points: int = MIN_POINTS, label: str | None = None) -> float:
    """Nash-Sutcliffe efficiency ``1 - Σ(s - o)² / Σ(o - ō)²`` (1 perfect, 0 as good as
    the observed mean); NaN with a :class:`MetricWarning` when ``obs`` are constant."""
    return _nse(*valid_pairs(sim, obs, min_points=min_points, label=label), label)


def kge(sim: Array, obs: Array, *, min_points: int = MIN_POINTS, label: str | None = None) -> KGE:
    """Kling-Gupta efficiency ``1 - sqrt((r-1)² + (α-1)² + (β-1)²)`` with ``r`` the
    Pearson correlation, ``α = σ_sim / σ_obs`` and ``β = μ_sim / μ_obs`` (Gupta, Kling,
    Yilmaz and Martinez, 2009, J. Hydrol. 377, doi:10.1016/j.jhydrol.2009.08.003).
    Standard deviations are population ones (``ddof=0``); an undefined part is NaN."""
    return _kge(*valid_pairs(sim, obs, min_points=min_points, label=label), label)


def rmse(
    sim: Array, obs: Array, *, min_points: int = MIN_POINTS, label: str | None = None
) -> float:
    """Root mean square error, in the units of ``obs``."""
    return _rmse(*valid_pairs(sim, obs, min_points=min_points, label=label), label)


def bias(
    sim: Array, obs: Array, *, min_points: int = MIN_POINTS, label: str | None = None
) -> float:
    """Mean error ``mean(sim - obs)`` in the units of ``obs`` (positive: overestimation)."""
    return _bias(*valid_pairs(sim, obs, min_points=min_points, label=label), label)


def pbias(
    sim: Array, obs: Array, *, min_points: int = MIN_POINTS, label: str | None = None
) -> float:
    """Percent bias ``100 Σ(sim - obs) / Σ obs`` (positive: overestimation)."""
    return _pbias(*valid_pairs(sim, obs, min_points=min_points, label=label), label)


def fhv(
    sim: Array,
    obs: Array,
    h: float = 0.02,
    *,
    min_points: int = MIN_POINTS,
    label: str | None = None,
) -> float:
    """Percent bias of the high-flow segment of the flow duration curve, %BiasFHV of
    Yilmaz, Gupta and Wagener (2008, Water Resour. Res. 44, W09417, eq. A3,
    doi:10.1029/2007WR006716): ``100 Σ(QS_h - QO_h) / Σ QO_h`` over the flows with
    exceedance probability below ``h`` (the top 2 % by default).

    Each series is sorted on its own (flow duration curves, not paired time steps); the
    segment holds the ``max(1, round(h n))`` largest of the ``n`` valid flows.
    """
    return _fhv(*valid_pairs(sim, obs, min_points=min_points, label=label), label, h)


def flv(
    sim: Array,
    obs: Array,
    l: float = 0.3,  # noqa: E741 (the paper's symbol)
    *,
    min_points: int = MIN_POINTS,
    label: str | None = None,
) -> float:
    """Percent bias of the low-flow segment of the flow duration curve in log space,
    %BiasFLV of Yilmaz, Gupta and Wagener (2008, Water Resour. Res. 44, W09417, eq. A4,
    doi:10.1029/2007WR006716)::

        -100 [Σ(log QS_l - log QS_L) - Σ(log QO_l - log QO_L)] / Σ(log QO_l - log QO_L)

    over the flows with exceedance probability above ``1 - l`` (the bottom 30 % by
    default), ``L`` being the minimum flow of each curve. Each series is sorted on its own;
    the segment holds the ``max(2, round(l n))`` smallest valid flows, and flows at or
    below zero are raised to :data:`FLOW_FLOOR` before the logarithm.
    """
    return _flv(*valid_pairs(sim, obs, min_points=min_points, label=label), label, l)


Kernel = Callable[[Array, Array, "str | None"], float]

_SCALAR_KERNELS: dict[str, Kernel] = {
    "nse": _nse,
    "kge": lambda s, o, label: _kge(s, o, label).kge,
    "kge_r": lambda s, o, label: _kge(s, o, label).r,
    "kge_alpha": lambda s, o, label: _kge(s, o, label).alpha,
    "kge_beta": lambda s, o, label: _kge(s, o, label).beta,
    "rmse": _rmse,
    "bias": _bias,
    "pbias": _pbias,
    "fhv": _fhv,
    "flv": _flv,
}

STREAMFLOW_METRICS = ("fhv", "flv")
"""Metrics computed only for streamflow (flow-duration-curve signatures)."""

OPTIMUM: dict[str, float] = {
    "nse": 1.0,
    "kge": 1.0,
    "kge_r": 1.0,
    "kge_alpha": 1.0,
    "kge_beta": 1.0,
    "rmse": 0.0,
    "bias": 0.0,
    "pbias": 0.0,
    "fhv": 0.0,
    "flv": 0.0,
}
"""Ideal value of each metric. NSE, KGE and r cannot exceed it and RMSE cannot go below
it, so for those the raw value orders models; for the others the distance to it does."""

DISPLAY_NAMES: dict[str, str] = {
    "nse": "NSE",
    "kge": "KGE",
    "kge_r": "r",
    "kge_alpha": "α",
    "kge_beta": "β",
    "rmse": "RMSE",
    "bias": "bias",
    "pbias": "PBIAS",
    "fhv": "FHV",
    "flv": "FLV",
}
"""How each metric is written in sentences and reports."""

ONE_SIDED = {"nse": True, "kge": True, "kge_r": True, "rmse": False}
"""Metrics ordered by their raw value: ``True`` if higher is better, ``False`` if lower."""


def metric_names(streamflow: bool) -> tuple[str, ...]:
    """Names returned by :func:`compute_metrics` for a streamflow or other variable."""
    return tuple(n for n in _SCALAR_KERNELS if streamflow or n not in STREAMFLOW_METRICS)


def metric(
    name: str,
    sim: Array,
    obs: Array,
    *,
    min_points: int = MIN_POINTS,
    label: str | None = None,
) -> float:
    """One metric by name (see :func:`metric_names`)."""
    if name not in _SCALAR_KERNELS:
        raise KeyError(f"unknown metric {name!r}; choose from {list(_SCALAR_KERNELS)}")
    s, o = valid_pairs(sim, obs, min_points=min_points, label=label)
    return _SCALAR_KERNELS[name](s, o, label)


def compute_metrics(
    sim: Array,
    obs: Array,
    streamflow: bool,
    *,
    min_points: int = MIN_POINTS,
    label: str | None = None,
) -> dict[str, float]:
    """All metrics of one series ``[time]``: ``nse, kge, kge_r, kge_alpha, kge_beta, rmse,
    bias`` (mean error), ``pbias`` (%), and for streamflow ``fhv, flv`` (%)."""
    s, o = valid_pairs(sim, obs, min_points=min_points, label=label)
    parts = _kge(s, o, label)
    values: dict[str, float] = {
        "nse": _nse(s, o, label),
        "kge": parts.kge,
        "kge_r": parts.r,
        "kge_alpha": parts.alpha,
        "kge_beta": parts.beta,
    }
    for name in metric_names(streamflow):
        if name not in values:
            values[name] = _SCALAR_KERNELS[name](s, o, label)
    return values


def score_sites(
    sim: Array,
    obs: Array,
    *,
    sites: Sequence[str] | None = None,
    streamflow: bool = False,
    min_points: int = MIN_POINTS,
    label: str | None = None,
) -> pd.DataFrame:
    """Score ``sim`` against ``obs``, both ``[time, site]``, site by site; warnings name
    the site after ``label`` (e.g. the variable and split).

    Returns a tidy table with columns ``site, metric, value`` (one row per site and metric).
    """
    sim = np.asarray(sim, dtype=float)
    obs = np.asarray(obs, dtype=float)
    if sim.ndim != 2 or sim.shape != obs.shape:
        raise ValueError(
            f"sim and obs must be [time, site] arrays of the same shape; "
            f"got {sim.shape} and {obs.shape}"
        )
    names = [str(i) for i in range(obs.shape[1])] if sites is None else [str(s) for s in sites]
    if len(names) != obs.shape[1]:
        raise ValueError(f"got {len(names)} site names for {obs.shape[1]} sites")
    rows = []
    for j, site in enumerate(names):
        values = compute_metrics(
            sim[:, j],
            obs[:, j],
            streamflow,
            min_points=min_points,
            label=f"{label}, site {site}" if label else f"site {site!r}",
        )
        rows.extend((site, name, value) for name, value in values.items())
    return pd.DataFrame(rows, columns=["site", "metric", "value"])


def score_variants(
    sims: Mapping[str, Array],
    obs: Array,
    *,
    sites: Sequence[str] | None = None,
    streamflow: bool = False,
    min_points: int = MIN_POINTS,
) -> pd.DataFrame:
    """Score several simulations ``{variant: [time, site]}`` against the same ``obs``.

    Returns a tidy table with columns ``variant, site, metric, value``.
    """
    if not sims:
        raise ValueError("no variants to score")
    tables = []
    for variant, sim in sims.items():
        table = score_sites(sim, obs, sites=sites, streamflow=streamflow, min_points=min_points)
        tables.append(table.assign(variant=variant))
    return pd.concat(tables, ignore_index=True)[["variant", "site", "metric", "value"]]


def median_scores(table: pd.DataFrame) -> pd.DataFrame:
    """Median over sites of a tidy table from :func:`score_sites` or
    :func:`score_variants`: columns ``[variant,] metric, median, n_sites`` (NaN skipped)."""
    missing = {"site", "metric", "value"} - set(table.columns)
    if missing:
        raise ValueError(f"table lacks columns {sorted(missing)}")
    keys = [c for c in table.columns if c not in ("site", "value")]
    grouped = table.groupby(keys, sort=False)["value"]
    return grouped.agg(median="median", n_sites="count").reset_index()
