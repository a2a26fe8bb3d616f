"""A learned slot against its equations: equation vs network on the probed samples, and the
partial dependence on each input (network, distilled equation, textbook, truth; see
:mod:`discover.report.figures.dependence`), with ET/PET over soil wetness for an HBV
evapotranspiration slot."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes

from discover.report.figures.common import axis_label, new_figure, save, styled
from discover.report.figures.dependence import BAND, Dependence
from discover.report.rundir import SlotSamples

MAX_POINTS = 3000
"""Samples drawn in scatter plots (a fixed random subset beyond this)."""
EQUATION, TEXTBOOK, TRUTH = "distilled equation", "textbook process", "planted truth"
STYLES = {
    EQUATION: {"color": "#c44e52", "ls": "-", "lw": 2.0},
    TEXTBOOK: {"color": "#4c72b0", "ls": "--", "lw": 1.8},
    TRUTH: {"color": "#55a868", "ls": ":", "lw": 2.2},
}
"""Line style of each curve; a label not listed gets the equation's."""
NETWORK = {"color": "k", "marker": "o", "ms": 4, "lw": 1.0, "ls": "-"}


def _subset(n: int) -> np.ndarray:
    if n <= MAX_POINTS:
        return np.arange(n)
    return np.sort(np.random.default_rng(0).choice(n, MAX_POINTS, replace=False))


def _agreement(
    axes: Axes, samples: SlotSamples, curves: Mapping[str, np.ndarray], units: str | None
) -> None:
    """Each curve's value against the network's on the samples, with the 1:1 line."""
    shown = _subset(samples.output.size)
    network = samples.output[shown]
    for rank, (label, values) in enumerate(curves.items()):  # the first curve on top
        axes.scatter(
            network,
            values[shown],
            s=6,
            alpha=0.5,
            lw=0,
            color=STYLES.get(label, STYLES[EQUATION])["color"],
            label=f"{label} (each sample)",
            zorder=3 + len(curves) - rank,
        )
    values = np.concatenate([network, *(v[shown] for v in curves.values())])
    finite = values[np.isfinite(values)]
    if finite.size:
        low, high = float(finite.min()), float(finite.max())
        axes.plot([low, high], [low, high], color="k", lw=1, label="1:1 line")
    axes.set_xlabel(axis_label("network output", units))
    axes.set_ylabel(axis_label("equation value", units))
    axes.set_title("equations vs network on the probed samples")


def _dependence(axes: Axes, curves: Dependence, x_label: str, y_label: str, title: str) -> None:
    if curves.band is not None:
        axes.fill_between(
            curves.grid,
            *curves.band,
            color=STYLES[EQUATION]["color"],
            alpha=0.15,
            lw=0,
            label=f"{EQUATION}, ICE {BAND[0]:.0f}-{BAND[1]:.0f} % over samples",
        )
    axes.plot(
        curves.network_x,
        curves.network_y,
        label="network: binned means of the probed samples",
        **NETWORK,
    )
    for label, values in curves.curves.items():
        axes.plot(curves.grid, values, label=label, **STYLES.get(label, STYLES[EQUATION]))
    axes.set_xlabel(x_label)
    axes.set_ylabel(y_label)
    axes.set_title(title)


def _held(curves: Dependence) -> str:
    return ", ".join(f"{n} = {v:.3g}" for n, v in curves.fixed.items())


@styled
def learned_vs_equations(
    slot: str,
    samples: SlotSamples,
    curves: Mapping[str, np.ndarray],
    panels: Sequence[Dependence],
    path: Path,
    units: Mapping[str, str | None] | None = None,
    ratio: Dependence | None = None,
) -> Path:
    """The slot's equations against its network: a scatter of equation vs network value
    on the samples (``curves``: label → values ``[sample]``), one partial-dependence panel
    per input (``panels``), and ET/PET against soil wetness when ``ratio`` is given.

    ``units`` maps the slot name (its output) and its inputs to units.
    """
    units = dict(units or {})
    out_units = units.get(slot)
    out_label = axis_label(f"{slot}", out_units)
    count = 1 + len(panels) + (ratio is not None)
    columns = min(3, count)
    rows = math.ceil(count / columns)
    figure = new_figure(4.3 * columns, 1.2 + 3.5 * rows)
    axes = list(figure.subplots(rows, columns, squeeze=False).ravel())
    if curves:
        _agreement(axes[0], samples, curves, out_units)
        axes[0].legend(loc="upper left", fontsize=8)
    else:
        axes[0].set_axis_off()
        axes[0].text(0.5, 0.5, "no equation to compare", ha="center", va="center")
    for panel, curve in zip(axes[1:], panels, strict=False):
        title = f"over {curve.input}" + (f" ({_held(curve)})" if curve.fixed else "")
        _dependence(panel, curve, axis_label(curve.input, units.get(curve.input)), out_label, title)
    if ratio is not None:
        _dependence(
            axes[1 + len(panels)],
            ratio,
            axis_label("soil_wetness", units.get("soil_wetness")),
            "ET / PET [-]",
            f"ET/PET over soil wetness ({_held(ratio)})",
        )
    for unused in axes[count:]:
        unused.set_axis_off()
    if panels:
        handles, labels = axes[1].get_legend_handles_labels()
        figure.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 3))
    figure.suptitle(f"Slot {slot}: learned function, distilled equation and references")
    return save(figure, path)
