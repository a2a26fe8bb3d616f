"""Distribution over sites of NSE and KGE per variant: CDFs, or bars for a single site."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from discover.report.figures.common import (
    SPLIT_WORDS,
    new_figure,
    save,
    styled,
    variant_colours,
)

METRICS = {"nse": "NSE", "kge": "KGE"}
LOWEST = -1.0
"""Left edge of the score axis; lower scores are off the axis (and said so)."""


def _cdf(
    axes: Axes, scores: pd.DataFrame, variants: Sequence[str], colours: dict[str, str]
) -> bool:
    """ECDF per variant, on an axis from the lowest score shown (not below :data:`LOWEST`)
    to 1; ``True`` when some score lies below :data:`LOWEST`."""
    below = False
    shown = scores.loc[scores["variant"].isin(variants), "value"].to_numpy(float)
    shown = shown[np.isfinite(shown)]
    left = (
        max(LOWEST, float(shown.min()) - 0.05 * (1.0 - float(shown.min())))
        if shown.size
        else LOWEST
    )
    for variant in variants:
        values = np.sort(scores.loc[scores["variant"] == variant, "value"].dropna().to_numpy(float))
        if values.size == 0:
            continue
        below |= bool((values < LOWEST).any())
        fraction = np.arange(1, values.size + 1) / values.size
        axes.step(
            np.concatenate([[values[0]], values]),
            np.concatenate([[0.0], fraction]),
            where="post",
            color=colours[variant],
            lw=1.6,
            label=variant,
        )
    axes.set_xlim(left, 1.0 + 0.02 * (1.0 - left))
    axes.set_ylim(0, 1.02)
    axes.set_ylabel("fraction of sites")
    return below


def _bars(
    axes: Axes, scores: pd.DataFrame, variants: Sequence[str], colours: dict[str, str]
) -> bool:
    values = [
        float(scores.loc[scores["variant"] == v, "value"].mean())
        if (scores["variant"] == v).any()
        else np.nan
        for v in variants
    ]
    shown = [max(v, LOWEST) if np.isfinite(v) else np.nan for v in values]
    labels = [
        f"{v}\n{value:.3g}" if np.isfinite(value) else f"{v}\n–"
        for v, value in zip(variants, values, strict=True)
    ]
    axes.bar(labels, shown, color=[colours[v] for v in variants])
    finite = [v for v in shown if np.isfinite(v)]
    axes.set_ylim(min([0.0, *finite]) - 0.05, 1.1)
    axes.axhline(0, color="k", lw=0.8)
    axes.grid(axis="x", visible=False)
    return any(np.isfinite(v) and v < LOWEST for v in values)


@styled
def site_scores(
    table: pd.DataFrame, variable: str, splits: Sequence[str], variants: Sequence[str], path: Path
) -> Path:
    """One row per split and one column per metric (NSE, KGE) of ``table`` (tidy
    ``metrics_sites.csv`` rows of one variable): CDFs over sites, or one bar per variant
    when there is a single site."""
    metrics = [m for m in METRICS if (table["metric"] == m).any()]
    single = table["site"].nunique() == 1
    colours = variant_colours(variants)
    figure = new_figure(4.2 * len(metrics), 0.9 + 3.0 * len(splits))
    panels = figure.subplots(len(splits), len(metrics), squeeze=False)
    for row, split in enumerate(splits):
        for column, metric in enumerate(metrics):
            axes = panels[row, column]
            scores = table[(table["split"] == split) & (table["metric"] == metric)]
            draw = _bars if single else _cdf
            below = draw(axes, scores, variants, colours)
            name = f"{METRICS[metric]} [-]"
            note = (
                f" (values < {LOWEST:g} {'clipped' if single else 'off the axis'})" if below else ""
            )
            if single:
                axes.set_ylabel(name + note)
            else:
                axes.set_xlabel(name + note)
            axes.set_title(
                f"{variable}, {SPLIT_WORDS.get(split, split)}: {METRICS[metric]}"
                + (" at the single site" if single else " over sites")
            )
    if not single:
        handles, labels = panels[0, 0].get_legend_handles_labels()
        figure.legend(handles, labels, loc="outside upper center", ncols=min(len(labels), 5))
    return save(figure, path)
