"""Scoring variants: metrics per site and split, paired tests, physical checks."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from discover.distill.probe import ProbeSamples
from discover.processes import Process
from discover.validate.checks import check_function, sampled_domain
from discover.validate.compare import compare_series, compare_variants
from discover.validate.metrics import median_scores, score_sites
from discover.workflows.base import Workflow

log = logging.getLogger("discover")

METRIC_MIN_POINTS = 3
"""Fewest valid observations a split needs to be scored (short ODE series have few)."""

SITE_FOLDS = "sites"
"""Name of the split of held-out sites (k-fold over sites: every scored day)."""


def site_metrics(
    workflow: Workflow,
    simulations: Mapping[str, np.ndarray],
    fold_simulations: Mapping[str, np.ndarray] | None = None,
) -> pd.DataFrame:
    """Tidy per-site metrics ``variant, split, variable, site, metric, value`` of every
    simulation ``{variant: [time, site, variable]}`` on every split of ``workflow``, and of
    ``fold_simulations`` (each site by the model that never saw it) on split ``sites``.
    A site with fewer than :data:`METRIC_MIN_POINTS` observations in a split is skipped."""
    observed = workflow.observed
    slices = workflow.split_slices()
    scored = [
        (variant, split, simulated, part)
        for variant, simulated in simulations.items()
        for split, part in slices.items()
    ]
    every_scored_day = slice(slices["train"].start, None)
    scored += [(v, SITE_FOLDS, s, every_scored_day) for v, s in (fold_simulations or {}).items()]
    tables = []
    for variant, split, simulated, part in scored:
        for i, variable in enumerate(workflow.variables):
            obs = observed[part, :, i]
            kept = [
                s for s in range(obs.shape[1]) if np.isfinite(obs[:, s]).sum() >= METRIC_MIN_POINTS
            ]
            if not kept:
                continue
            table = score_sites(
                simulated[part, :, i][:, kept],
                obs[:, kept],
                sites=[workflow.sites[s] for s in kept],
                streamflow=variable == "streamflow",
                min_points=METRIC_MIN_POINTS,
                label=f"{variable} ({split})",
            )
            tables.append(table.assign(variant=variant, split=split, variable=variable))
    columns = ["variant", "split", "variable", "site", "metric", "value"]
    if not tables:
        return pd.DataFrame(columns=columns)
    return pd.concat(tables, ignore_index=True)[columns]


def median_metrics(table: pd.DataFrame) -> dict[str, dict[str, dict[str, dict[str, float]]]]:
    """``{variant: {split: {variable: {metric: median over sites}}}}`` of a
    :func:`site_metrics` table."""
    metrics: dict[str, Any] = {}
    for row in median_scores(table).itertuples(index=False):
        by_variable = metrics.setdefault(row.variant, {}).setdefault(row.split, {})
        by_variable.setdefault(row.variable, {})[row.metric] = float(row.median)
    return metrics


def compare(
    workflow: Workflow,
    simulations: Mapping[str, np.ndarray],
    table: pd.DataFrame,
    split: str,
    seed: int,
) -> tuple[pd.DataFrame, list[str]]:
    """Paired tests between every pair of variants on ``split``: over sites (Wilcoxon,
    bootstrap CI, from the :func:`site_metrics` ``table``) when there are several, else
    over time blocks of the one site.

    Returns one row per variable, metric and pair with a ``sentence`` in words (empty when
    fewer than two variants), and why any variable could not be tested.
    """
    if len(simulations) < 2:
        return pd.DataFrame(), []
    several_sites = len(workflow.sites) > 1
    tables, skipped = [], []
    for i, variable in enumerate(workflow.variables):
        try:
            if several_sites:
                mask = (table["split"] == split) & (table["variable"] == variable)
                result = compare_variants(table[mask], seed=seed)
            else:
                part = workflow.split_slices()[split]
                sims = {k: v[part, 0, i] for k, v in simulations.items()}
                observed = workflow.observed[part, 0, i]
                result = compare_series(sims, observed, seed=seed, min_points=10)
        except ValueError as err:
            log.warning("no paired test for %s on %s: %s", variable, split, err)
            skipped.append(f"{variable} on split {split!r}: {err}")
            continue
        tables.append(result.assign(split=split, variable=variable))
    return (pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()), skipped


def physical_checks(
    variant_slots: Mapping[str, Mapping[str, Process]],
    samples: Mapping[str, ProbeSamples],
    seed: int,
    input_bounds: Mapping[str, tuple[float | None, float | None]] | None = None,
) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Checks of every symbolic slot of every variant over its visited domain (the slot's
    probed ``samples``) and beyond it (declared range, finite values, behaviour at the
    edges): ``{variant: {slot: [{"check", "passed", "sentence"}]}}``.

    The domain is :func:`~discover.validate.checks.sampled_domain`'s: inputs whose
    visited values are all non-negative are taken as physically non-negative, so the
    extrapolated box does not cross zero, nor the ``input_bounds`` the model holds its
    inputs in (:attr:`~discover.models.base.HybridModel.input_bounds`).
    """
    checks: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for variant, slots in variant_slots.items():
        for slot, process in slots.items():
            if process.kind != "symbolic" or slot not in samples:
                continue
            X, names = samples[slot].X, samples[slot].names
            domain, bounds = sampled_domain(process, X, names, input_bounds)
            report = check_function(process, domain, bounds=bounds, seed=seed)
            checks.setdefault(variant, {})[slot] = [
                {"check": f"{r.check} ({r.region})", "passed": r.passed, "sentence": r.sentence}
                for r in report.results
            ]
    return checks
