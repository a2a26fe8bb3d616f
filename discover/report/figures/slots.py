"""A learned slot against its equations (selected, planted truth) over its inputs."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes

from discover.report.figures.common import axis_label, new_figure, save, styled
from discover.report.rundir import SlotSamples

MAX_POINTS = 3000
"""Samples drawn in scatter plots (a fixed random subset beyond this)."""
BINS = 20
CURVE_STYLES = ({"color": "#c44e52", "ls": "-"}, {"color": "#55a868", "ls": "--"})
NETWORK = {"color": "0.55", "s": 6, "alpha": 0.35, "lw": 0}


def _subset(n: int) -> np.ndarray:
    if n <= MAX_POINTS:
        return np.arange(n)
    return np.sort(np.random.default_rng(0).choice(n, MAX_POINTS, replace=False))


def _binned_means(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean of ``x`` and ``y`` within quantile bins of ``x`` (empty and non-finite skipped)."""
    finite = np.isfinite(x) & np.isfinite(y)
    x, y = x[finite], y[finite]
    edges = np.unique(np.quantile(x, np.linspace(0, 1, BINS + 1))) if x.size else np.array([])
    if edges.size < 2:
        return x[:1], y[:1]
    which = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, edges.size - 2)
    counts = np.bincount(which, minlength=edges.size - 1)
    kept = counts > 0
    mean_x = np.bincount(which, x, minlength=edges.size - 1)[kept] / counts[kept]
    mean_y = np.bincount(which, y, minlength=edges.size - 1)[kept] / counts[kept]
    return mean_x, mean_y


def _one_input(
    axes: Axes, samples: SlotSamples, curves: Mapping[str, np.ndarray], out_label: str
) -> None:
    name = samples.inputs[0]
    x = samples.X[:, 0]
    shown = _subset(x.size)
    axes.scatter(x[shown], samples.output[shown], label="network (probed samples)", **NETWORK)
    order = np.argsort(x)
    for (label, values), style in zip(curves.items(), CURVE_STYLES, strict=False):
        axes.plot(x[order], values[order], lw=1.8, label=label, **style)
    axes.set_xlabel(axis_label(name, samples.input_units.get(name)))
    axes.set_ylabel(out_label)
    axes.legend(loc="best")


def _agreement(
    axes: Axes, samples: SlotSamples, curves: Mapping[str, np.ndarray], units: str | None
) -> None:
    shown = _subset(samples.output.size)
    network = samples.output[shown]
    layers = zip(curves.items(), CURVE_STYLES, strict=False)
    for rank, ((label, values), style) in enumerate(layers):  # the first curve on top
        axes.scatter(
            network,
            values[shown],
            s=6,
            alpha=0.5,
            lw=0,
            color=style["color"],
            label=label,
            zorder=3 + len(curves) - rank,
        )
    values = np.concatenate([network, *(v[shown] for v in curves.values())])
    finite = values[np.isfinite(values)]
    if finite.size:
        low, high = float(finite.min()), float(finite.max())
        axes.plot([low, high], [low, high], color="k", lw=1, label="1:1 line")
    axes.set_xlabel(axis_label("network output", units))
    axes.set_ylabel(axis_label("equation value", units))
    axes.set_title("equations vs network on the samples")
    axes.legend(loc="upper left")


def _slice(
    axes: Axes, samples: SlotSamples, column: int, curves: Mapping[str, np.ndarray], out_label: str
) -> None:
    name = samples.inputs[column]
    x = samples.X[:, column]
    shown = _subset(x.size)
    axes.scatter(x[shown], samples.output[shown], **NETWORK, label="network (samples)")
    axes.plot(*_binned_means(x, samples.output), color="k", lw=1.6, label="network, binned mean")
    for (label, values), style in zip(curves.items(), CURVE_STYLES, strict=False):
        axes.plot(*_binned_means(x, values), lw=1.6, label=f"{label}, binned mean", **style)
    axes.set_xlabel(axis_label(name, samples.input_units.get(name)))
    axes.set_ylabel(out_label)
    axes.set_title(f"over {name} (others as sampled)")


@styled
def learned_vs_equations(
    slot: str, samples: SlotSamples, curves: Mapping[str, np.ndarray], path: Path
) -> Path:
    """The network's output on the probed samples against each equation in ``curves``
    (``label → values [sample]``, e.g. the selected equation and the planted truth).

    One input: a line plot over it. Several: a scatter of equation vs network value,
    then one slice per input with the mean over quantile bins of that input.
    """
    units = samples.output_units
    out_label = axis_label(f"{slot} output", units)
    n = len(samples.inputs)
    if n == 1:
        figure = new_figure(7.0, 4.2)
        _one_input(figure.add_subplot(), samples, curves, out_label)
        figure.suptitle(f"Slot {slot}: learned function and equations")
        return save(figure, path)
    columns = min(3, n + 1)
    rows = math.ceil((n + 1) / columns)
    figure = new_figure(4.0 * columns, 0.8 + 3.4 * rows)
    panels = figure.subplots(rows, columns, squeeze=False).ravel()
    if curves:
        _agreement(panels[0], samples, curves, units)
    else:
        panels[0].set_axis_off()
        panels[0].text(0.5, 0.5, "no equation to compare", ha="center", va="center")
    for column in range(n):
        _slice(panels[column + 1], samples, column, curves, out_label)
    for axes in panels[n + 1 :]:
        axes.set_axis_off()
    handles, labels = panels[1].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 3))
    figure.suptitle(f"Slot {slot}: learned function and equations")
    return save(figure, path)
