"""Pareto front of a slot: loss against complexity (and the BIC that selected one of them),
the selected candidate marked."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes

from discover.report.figures.common import new_figure, save, shorten, styled
from discover.report.rundir import CandidateEntry

EVIDENCE_LINES = ((2.0, "positive evidence against"), (6.0, "strong evidence against"))
"""BIC differences from which a candidate counts as worse than the best (Kass and Raftery)."""


@styled
def pareto_front(
    slot: str,
    candidates: Sequence[CandidateEntry],
    selected: CandidateEntry | None,
    units: str | None,
    path: Path,
    bic: Sequence[float] | None = None,
    bound: int | None = None,
) -> Path:
    """Loss (log scale when positive) against complexity; the selected one is a star
    whose legend entry gives its expression. With ``bic`` (one per candidate, the
    criterion that selected on the data), a second panel shows it against complexity.
    ``bound`` (the search's ``max_complexity``) is drawn as a dashed line when a candidate
    lies beyond it."""
    with_bic = bic is not None and len(bic) == len(candidates)
    figure = new_figure(11.0 if with_bic else 7.0, 4.0)
    axes, *rest = figure.subplots(1, 2 if with_bic else 1, squeeze=False)[0]
    complexity = np.array([c.complexity for c in candidates], dtype=float)
    loss = np.array([c.loss for c in candidates], dtype=float)
    axes.plot(complexity, loss, "o-", color="#4c72b0", ms=5, label="Pareto front")
    if selected is not None:
        axes.plot(
            [selected.complexity],
            [selected.loss],
            "*",
            color="#c44e52",
            ms=16,
            label=f"selected: {shorten(selected.expression, 80)}",
        )
    finite = loss[np.isfinite(loss)]
    logarithmic = finite.size > 0 and bool((finite > 0).all())
    if logarithmic:
        axes.set_yscale("log")
    if bound is not None and complexity.size and complexity.max() > bound:
        axes.axvline(
            bound, color="0.4", ls="--", lw=1, label=f"search bound max_complexity = {bound}"
        )
    squared = f"[({units})²]" if units else "[squared output units]"
    axes.set_xlabel("complexity (expression nodes)")
    axes.set_ylabel(f"loss: MSE vs network {squared}")
    axes.set_title(f"Pareto front of slot {slot}")
    if with_bic:
        _bic_panel(rest[0], complexity, np.array(bic, dtype=float), candidates, selected)
    figure.legend(loc="outside upper center", ncols=2)
    return save(figure, path)


def _bic_panel(
    axes: Axes,
    complexity: np.ndarray,
    bic: np.ndarray,
    candidates: Sequence[CandidateEntry],
    selected: CandidateEntry | None,
) -> None:
    """Each candidate's BIC of the model on the data above the lowest one (0: the best),
    on a symlog axis so that differences of a few units show beside ones of thousands;
    dashed lines at 2 and 6, where a difference starts to count as positive and as strong
    evidence against the candidate. Failed candidates (non-finite BIC) are left out."""
    finite = np.isfinite(bic)
    excess = bic_above_best(bic)
    axes.plot(complexity[finite], excess[finite], "o", color="#4c72b0", ms=5)
    if selected is not None:
        chosen = [i for i, c in enumerate(candidates) if c == selected and finite[i]]
        axes.plot(complexity[chosen], excess[chosen], "*", color="#c44e52", ms=16)
    axes.set_yscale("symlog", linthresh=1.0)
    for level, strength in EVIDENCE_LINES:
        axes.axhline(level, color="0.55", lw=0.8, ls="--")
        axes.annotate(
            strength,
            (1.0, level),
            xycoords=("axes fraction", "data"),
            ha="right",
            va="bottom",
            fontsize=8,
            color="0.4",
        )
    axes.set_xlabel("complexity (expression nodes)")
    axes.set_ylabel("BIC − lowest BIC (model on the training data)")
    axes.set_title("selection on the data (lowest wins; symlog axis)")


def bic_above_best(bic: np.ndarray) -> np.ndarray:
    """``bic`` [candidate] minus its lowest finite value (0 for the best; non-finite stays)."""
    finite = np.isfinite(bic)
    return bic - bic[finite].min() if finite.any() else bic.copy()
