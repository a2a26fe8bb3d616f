"""Tables of the report, built from the run's files as :class:`Table` blocks."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from discover.expressions import ExpressionError, expression_names
from discover.report.checks import criterion
from discover.report.document import Table
from discover.report.equations import math_of
from discover.report.figures.common import SPLIT_WORDS
from discover.report.rundir import Metrics, SlotEquations

METRIC_ORDER = (
    "nse",
    "kge",
    "kge_r",
    "kge_alpha",
    "kge_beta",
    "rmse",
    "bias",
    "pbias",
    "fhv",
    "flv",
)
METRIC_NAMES = {
    "nse": "NSE",
    "kge": "KGE",
    "kge_r": "KGE r",
    "kge_alpha": "KGE α",
    "kge_beta": "KGE β",
    "rmse": "RMSE",
    "bias": "bias",
    "pbias": "PBIAS [%]",
    "fhv": "FHV [%]",
    "flv": "FLV [%]",
}
COMPARISON_COLUMNS = (
    "split", "metric", "a", "b", "n_sites", "n", "median_difference", "difference", "ci_low",
    "ci_high", "p_value", "p_adjusted", "wins_a", "wins_b", "share_a_better", "share_b_better",
    "evidence", "winner", "strength",
)  # fmt: skip


def number(value: Any) -> str:
    """A value as shown in tables: 3 significant digits, ``–`` when missing."""
    if _missing(value):
        return "–"
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        return f"{float(value):.3g}"
    return str(value)


def metric_names(metrics: Metrics, split: str) -> list[str]:
    """The metrics reported for ``split``, in :data:`METRIC_ORDER` then as found."""
    found = dict.fromkeys(
        name
        for splits in metrics.values()
        for variables in [splits.get(split, {})]
        for scores in variables.values()
        for name in scores
    )
    return [m for m in METRIC_ORDER if m in found] + [m for m in found if m not in METRIC_ORDER]


UNIT_METRICS = ("rmse", "bias")
"""Metrics in the units of their variable."""


def metric_table(
    metrics: Metrics, split: str, variants: Sequence[str], units: Mapping[str, str] | None = None
) -> Table:
    """Median over sites of each metric: one row per variant and variable; RMSE and bias
    in the variable's ``units`` (variable → units, e.g. from simulations.nc)."""
    names = metric_names(metrics, split)
    units = units or {}
    rows = []
    for variant in variants:
        for variable, scores in metrics[variant].get(split, {}).items():
            rows.append(
                (
                    variant,
                    variable,
                    units.get(variable, "–"),
                    *(number(scores.get(m)) for m in names),
                )
            )
    header = (
        "variant",
        "variable",
        "units of RMSE, bias",
        *(METRIC_NAMES.get(m, m) for m in names),
    )
    caption = f"{SPLIT_WORDS.get(split, split).capitalize()}: median over sites."
    return Table(header, tuple(rows), caption)


def comparison_table(comparisons: pd.DataFrame) -> Table:
    """The paired tests of ``comparisons.csv``, columns in a fixed order (sentences apart)."""
    columns = [c for c in COMPARISON_COLUMNS if c in comparisons.columns]
    columns += [c for c in comparisons.columns if c not in columns and c != "sentence"]
    rows = tuple(tuple(number(row[c]) for c in columns) for _, row in comparisons.iterrows())
    return Table(tuple(key_words(c) for c in columns), rows)


def hypotheses_table(hypotheses: Mapping[str, Mapping[str, Any]]) -> Table:
    """Each stated hypothesis: its slot, the stated form and the fitted one (LaTeX)."""
    rows = []
    for name, entry in hypotheses.items():
        stated = str(entry.get("stated", ""))
        try:
            names = sorted(expression_names(stated))
        except ExpressionError:
            names = []
        fitted = str(entry.get("fitted", ""))
        rows.append(
            (
                name,
                str(entry.get("slot", "")),
                math_of(stated, names),
                math_of(fitted, names) if fitted else "not fitted",
            )
        )
    return Table(("hypothesis", "slot", "stated", "fitted"), tuple(rows))


def checks_table(results: Sequence[Mapping[str, Any]]) -> Table:
    """Physical checks of one slot: check, region (when given), what it tested, passed,
    what was found."""
    columns = [c for c in ("check", "region") if any(c in r for r in results)]
    rows = tuple(
        (
            *(number(r.get(c)) for c in columns),
            criterion(r),
            number(bool(r.get("passed"))),
            number(r.get("sentence")),
        )
        for r in results
    )
    return Table((*columns, "tested that", "passed", "found"), rows)


def pareto_table(equations: SlotEquations) -> Table:
    """Every candidate of a slot's front with its LaTeX; the selected one marked."""
    rows = []
    for candidate in equations.pareto:
        mark = "selected" if candidate == equations.selected else ""
        math_cell = math_of(candidate.expression, equations.inputs)
        rows.append((str(candidate.complexity), number(candidate.loss), mark, math_cell))
    return Table(("complexity", "loss (MSE)", "", "expression"), tuple(rows))


KEY_WORDS = {
    "best_iteration": "best iteration (lowest validation loss)",
    "best_val": "best validation loss",
    "final_train": "final training loss",
    "resumed_from": "resumed from",
    "seconds": "training time [s]",
    "stopped": "stopped by",
    "config_digest": "configuration digest",
    "numpy": "numpy version",
    "torch": "torch version",
    "python": "python version",
    "discover": "discover version",
    "difference": "median a − b",
    "median_difference": "median a − b",
    "ci_low": "95 % CI low",
    "ci_high": "95 % CI high",
    "p_value": "p",
    "p_adjusted": "p (Holm-adjusted)",
    "n_sites": "sites",
    "share_a_better": "share a better",
    "share_b_better": "share b better",
}
"""Words for the keys of provenance.json shown in tables."""


def key_words(key: str) -> str:
    """``final_train`` → ``final training loss``; other keys with spaces for underscores."""
    return KEY_WORDS.get(key, key.replace("_", " "))


def key_value_table(items: Mapping[str, Any], header: tuple[str, str] = ("item", "value")) -> Table:
    """Two columns: each key in words and its value (numbers to 3 significant digits)."""
    return Table(header, tuple((key_words(str(k)), number(v)) for k, v in items.items()))


def data_table(simulations: xr.Dataset) -> Table:
    """Per variable: units, sites, time steps per split, observed share and range."""
    split = simulations["split"].values.astype(str) if "split" in simulations.coords else None
    periods = list(dict.fromkeys(split)) if split is not None else []
    rows = []
    for name in simulations.data_vars:
        if not str(name).endswith("_observed"):
            continue
        variable = str(name)[: -len("_observed")]
        observed = simulations[name].values.astype(float)
        units = simulations[name].attrs.get("units") or (
            simulations[variable].attrs.get("units") if variable in simulations else None
        )
        finite = observed[np.isfinite(observed)]
        counts = [str(int((split == p).sum())) for p in periods]
        rows.append(
            (
                variable,
                units or "–",
                str(simulations.sizes["site"]),
                *counts,
                f"{100 * finite.size / max(observed.size, 1):.0f}%",
                *(_rounded(finite, q) for q in (0.0, 0.5, 1.0)),
            )
        )
    header = (
        "variable", "units", "sites", *(f"{p} steps" for p in periods),
        "observed", "min", "median", "max",
    )  # fmt: skip
    return Table(header, tuple(rows), "Observed values over all sites and time steps.")


def shortlist_table(
    rows: Sequence[Mapping[str, Any]], selected: str | None, inputs: Sequence[str]
) -> Table:
    """The candidates trained from scratch by ``distill.selection: retrain`` (provenance's
    ``shortlist``): complexity, expression, loss against the network, validation error
    (1 − NSE), one-sided p-value of being worse than the best one, training time; the
    selected one (expression ``selected``) marked."""
    out = []
    for row in rows:
        expression = str(row.get("expression", ""))
        p_worse = row.get("p_worse")
        out.append(
            (
                number(row.get("complexity")),
                math_of(expression, list(inputs)),
                number(row.get("loss")),
                number(row.get("validation_error")),
                "best" if _missing(p_worse) else number(p_worse),
                number(row.get("seconds")),
                "selected" if expression == selected else "",
            )
        )
    header = (
        "complexity",
        "candidate (as distilled)",
        "MSE vs network",
        "validation 1 − NSE",
        "p (worse than best)",
        "training s",
        "",
    )
    return Table(header, tuple(out), "Each candidate in a model trained from scratch.")


ZERO = 1e-9
"""Values below this share of a variable's largest magnitude are shown as 0."""


def _rounded(values: np.ndarray, quantile: float) -> str:
    """The ``quantile`` of ``values`` to 3 significant digits; ``0`` when it is within
    rounding noise (below :data:`ZERO` times the largest magnitude); ``–`` when empty."""
    if not values.size:
        return "–"
    value = float(np.quantile(values, quantile))
    return "0" if abs(value) <= ZERO * float(np.abs(values).max()) else number(value)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))
