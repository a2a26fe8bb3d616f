"""Observed and simulated series at sample sites, with the warm-up, validation and held-out
periods shaded."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import xarray as xr
from matplotlib.axes import Axes

from discover.report.figures.common import (
    SPLIT_WORDS,
    axis_label,
    new_figure,
    save,
    styled,
    variant_colours,
)

PERIOD_COLOURS = {"warmup": "0.85", "validation": "#cfe3f2", "test": "#f5d9b8"}
PERIOD_LABELS = {"warmup": "warm-up", **SPLIT_WORDS}
COLOUR_WORDS = {
    "0.85": "grey",
    "#cfe3f2": "light blue",
    "#f5d9b8": "light orange",
    "#4c72b0": "blue",
    "#dd8452": "orange",
    "#55a868": "green",
    "#c44e52": "red",
    "#8172b3": "purple",
    "#937860": "brown",
    "#da8bc3": "pink",
    "#8c8c8c": "grey",
    "#ccb974": "olive",
    "#64b5cd": "cyan",
}
"""Names of the colours the figures use, for captions."""


def shading_words(simulations: xr.Dataset) -> str:
    """``Shaded: warm-up (grey), held-out period (light orange).`` for the periods present,
    named from :data:`PERIOD_COLOURS`; the training period is not shaded."""
    if "split" not in simulations.coords:
        return ""
    present = dict.fromkeys(str(s) for s in simulations["split"].values)
    shaded = [
        f"{PERIOD_LABELS[p]} ({COLOUR_WORDS[PERIOD_COLOURS[p]]})"
        for p in present
        if p in PERIOD_COLOURS
    ]
    return ("Shaded: " + ", ".join(shaded) + "; unshaded: training period.") if shaded else ""


def variant_words(variants: Sequence[str]) -> str:
    """``physics (blue), neural (orange)``: each variant with its line colour."""
    colours = variant_colours(variants)
    return ", ".join(f"{v} ({COLOUR_WORDS.get(colours[v], colours[v])})" for v in variants)


def _periods(split: np.ndarray) -> list[tuple[str, int, int]]:
    """Runs ``(label, first, last)`` of equal split labels along time."""
    runs = []
    start = 0
    for i in range(1, len(split) + 1):
        if i == len(split) or split[i] != split[start]:
            runs.append((str(split[start]), start, i - 1))
            start = i
    return runs


def _shade(axes: Axes, time: np.ndarray, split: np.ndarray | None) -> None:
    if split is None:
        return
    for label, first, last in _periods(split):
        if label in PERIOD_COLOURS:
            axes.axvspan(
                time[first],
                time[last],
                color=PERIOD_COLOURS[label],
                lw=0,
                zorder=0,
                label=PERIOD_LABELS[label],
            )


@styled
def observed_vs_simulated(
    simulations: xr.Dataset,
    variable: str,
    sites: Sequence[tuple[int, str]],
    variants: Sequence[str],
    path: Path,
) -> Path:
    """One panel per sample site: observations (dots) and each variant's simulation.

    Args:
        simulations: ``simulations.nc`` with ``V_observed(time, site)``,
            ``V(variant, time, site)`` and optionally ``split(time)``.
        variable: the variable ``V``.
        sites: ``(site position, panel title)`` pairs.
        variants: the variants to draw, in legend order.
    """
    observed = simulations[f"{variable}_observed"].transpose("time", "site")
    simulated = simulations[variable] if variable in simulations else None
    time = (
        simulations["time"].values
        if "time" in simulations.coords
        else np.arange(observed.sizes["time"])
    )
    split = simulations["split"].values.astype(str) if "split" in simulations.coords else None
    units = simulated.attrs.get("units") if simulated is not None else None
    units = units or observed.attrs.get("units")
    colours = variant_colours(variants)
    figure = new_figure(9.0, 0.6 + 2.4 * len(sites))
    panels = figure.subplots(len(sites), 1, sharex=True, squeeze=False)[:, 0]
    for axes, (position, title) in zip(panels, sites, strict=True):
        _shade(axes, time, split)
        axes.plot(time, observed.values[:, position], ".", color="k", ms=2.5, label="observed")
        for variant in variants:
            values = simulated.sel(variant=variant).transpose("time", "site").values[:, position]
            axes.plot(time, values, lw=1.1, color=colours[variant], label=variant)
        axes.set_title(title)
        axes.set_ylabel(axis_label(variable, units))
    panels[-1].set_xlabel(
        axis_label("time", simulations["time"].attrs.get("units"))
        if "time" in simulations.coords
        else "time step"
    )
    handles, labels = panels[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside upper center", ncols=min(len(labels), 6))
    return save(figure, path)
