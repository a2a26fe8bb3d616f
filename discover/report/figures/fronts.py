"""Pareto front of a slot: loss against complexity, the selected candidate marked."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from discover.report.figures.common import new_figure, save, shorten, styled
from discover.report.rundir import CandidateEntry


@styled
def pareto_front(
    slot: str,
    candidates: Sequence[CandidateEntry],
    selected: CandidateEntry | None,
    units: str | None,
    path: Path,
) -> Path:
    """Loss (log scale when positive) against complexity; the selected one is a star
    whose legend entry gives its expression."""
    figure = new_figure(7.0, 4.0)
    axes = figure.add_subplot()
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
    squared = f"[({units})²]" if units else "[squared output units]"
    axes.set_xlabel("complexity (expression nodes)")
    axes.set_ylabel(f"loss: MSE vs network {squared}")
    axes.set_title(f"Pareto front of slot {slot}")
    axes.legend(loc="best")
    return save(figure, path)
