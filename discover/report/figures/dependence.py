"""Partial dependence of a learned slot on each input: the network (from its probed
samples), the distilled equation, the textbook process and the planted truth.

The network itself is not in the run directory, only its values on the probed samples.
Its curve over an input is therefore the mean output within quantile bins of that input
over the samples whose other inputs lie near their medians (the :data:`NEAR_SHARE` of
samples closest in rank to the median, by their largest rank distance over the other
inputs). The equation, textbook and truth are functions, evaluated exactly over a grid of
the input with the other inputs at their medians; the equation's ICE band is the 10-90 %
range over samples of the equation along the grid with the other inputs at each sample's
values.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

Function = Callable[[np.ndarray], np.ndarray]
"""Values ``[n]`` at inputs ``X [n, input]`` (columns in the slot's input order)."""

GRID = 60
BINS = 12
NEAR_SHARE = 0.3
"""Share of the samples (the nearest to the median in the other inputs) that the
network's conditional curve is drawn from."""
MIN_NEAR = 20
ICE_SAMPLES = 200
BAND = (10.0, 90.0)
RATIO_FLOOR = 0.2
"""ET/PET of the network is drawn from the samples above this quantile of pet (a small
pet makes the ratio noise)."""


@dataclass(frozen=True)
class Dependence:
    """Curves of one slot over one input.

    Attributes:
        input: the input on the x axis.
        grid: values of the input ``[GRID]`` (equations evaluated there).
        network_x, network_y: the network's binned conditional means ``[bin]``.
        near: number of samples the network's curve is drawn from.
        curves: label → values on ``grid`` (equation, textbook, truth), other inputs at
            their medians.
        band: the equation's 10-90 % ICE band ``(low [GRID], high [GRID])``, if any.
        fixed: the values the other inputs are held at (input → median).
    """

    input: str
    grid: np.ndarray
    network_x: np.ndarray
    network_y: np.ndarray
    near: int
    curves: dict[str, np.ndarray] = field(default_factory=dict)
    band: tuple[np.ndarray, np.ndarray] | None = None
    fixed: dict[str, float] = field(default_factory=dict)


def binned_means(x: np.ndarray, y: np.ndarray, bins: int = BINS) -> tuple[np.ndarray, np.ndarray]:
    """Mean of ``x`` and ``y`` within quantile bins of ``x`` (non-finite pairs skipped)."""
    finite = np.isfinite(x) & np.isfinite(y)
    x, y = x[finite], y[finite]
    if x.size == 0:
        return x, y
    edges = np.unique(np.quantile(x, np.linspace(0, 1, bins + 1)))
    if edges.size < 2:
        return x[:1], y[:1]
    which = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, edges.size - 2)
    counts = np.bincount(which, minlength=edges.size - 1)
    kept = counts > 0
    mean_x = np.bincount(which, x, minlength=edges.size - 1)[kept] / counts[kept]
    mean_y = np.bincount(which, y, minlength=edges.size - 1)[kept] / counts[kept]
    return mean_x, mean_y


def near_median(X: np.ndarray, column: int) -> np.ndarray:
    """Indices of the samples whose inputs other than ``column`` are nearest (in rank)
    to their medians: :data:`NEAR_SHARE` of them, at least :data:`MIN_NEAR`."""
    n, k = X.shape
    if k == 1:
        return np.arange(n)
    others = [j for j in range(k) if j != column]
    ranks = np.argsort(np.argsort(X[:, others], axis=0), axis=0) / max(n - 1, 1)
    distance = np.abs(ranks - 0.5).max(axis=1)
    keep = min(n, max(MIN_NEAR, int(NEAR_SHARE * n)))
    return np.sort(np.argsort(distance, kind="stable")[:keep])


def _ice_band(
    function: Function, X: np.ndarray, column: int, grid: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    rows = X[np.linspace(0, len(X) - 1, min(ICE_SAMPLES, len(X))).astype(int)]
    lines = np.repeat(rows, grid.size, axis=0)
    lines[:, column] = np.tile(grid, len(rows))
    with np.errstate(all="ignore"):
        values = function(lines).reshape(len(rows), grid.size)
    low, high = np.nanpercentile(values, BAND, axis=0)
    return low, high


def dependence(
    inputs: tuple[str, ...],
    X: np.ndarray,
    output: np.ndarray,
    functions: Mapping[str, Function],
    band_of: str | None = None,
) -> list[Dependence]:
    """One :class:`Dependence` per input from the probed samples ``X [sample, input]``
    and the network's ``output [sample]``; ``functions`` (label → function) are drawn
    exactly, and the ICE band is of ``functions[band_of]``."""
    medians = np.nanmedian(X, axis=0)
    found = []
    for column, name in enumerate(inputs):
        grid = np.linspace(np.nanmin(X[:, column]), np.nanmax(X[:, column]), GRID)
        at = np.tile(medians, (GRID, 1))
        at[:, column] = grid
        near = near_median(X, column)
        curves = {}
        with np.errstate(all="ignore"):
            for label, function in functions.items():
                curves[label] = np.asarray(function(at), dtype=float)
        band = None
        if band_of in functions and len(inputs) > 1:
            band = _ice_band(functions[band_of], X, column, grid)
        found.append(
            Dependence(
                name,
                grid,
                *binned_means(X[near, column], output[near]),
                near=int(near.size),
                curves=curves,
                band=band,
                fixed={n: float(medians[j]) for j, n in enumerate(inputs) if j != column},
            )
        )
    return found


def et_ratio(
    inputs: tuple[str, ...], X: np.ndarray, output: np.ndarray, functions: Mapping[str, Function]
) -> Dependence | None:
    """Evapotranspiration over potential evapotranspiration against soil wetness: the
    network's ``output/pet`` binned over the samples with pet above its
    :data:`RATIO_FLOOR` quantile, and each function at the median pet, divided by it.
    ``None`` unless the inputs are ``pet`` and ``soil_wetness``."""
    if set(inputs) != {"pet", "soil_wetness"}:
        return None
    pet, wetness = inputs.index("pet"), inputs.index("soil_wetness")
    keep = X[:, pet] > np.nanquantile(X[:, pet], RATIO_FLOOR)
    medians = np.nanmedian(X, axis=0)
    grid = np.linspace(np.nanmin(X[:, wetness]), np.nanmax(X[:, wetness]), GRID)
    at = np.tile(medians, (GRID, 1))
    at[:, wetness] = grid
    with np.errstate(all="ignore"):
        curves = {label: np.asarray(f(at), float) / medians[pet] for label, f in functions.items()}
        ratio = output[keep] / X[keep, pet]
    return Dependence(
        "soil_wetness",
        grid,
        *binned_means(X[keep, wetness], ratio),
        near=int(keep.sum()),
        curves=curves,
        fixed={"pet": float(medians[pet])},
    )
