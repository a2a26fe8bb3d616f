"""Training and validation loss curves."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from discover.report.figures.common import new_figure, save, styled


@styled
def loss_curves(
    history: pd.DataFrame, path: Path, best_iteration: int | None = None, restored: bool = True
) -> Path:
    """Training and validation loss against iteration (log scale when all are positive).

    ``best_iteration`` (dashed line) is the lowest validation loss; ``restored`` says
    whether its weights were kept (else training ended with its last weights).

    ``history`` has columns ``iteration, train`` and, NaN where not evaluated,
    ``validation`` (the split that chooses the weights) and/or ``test`` (held-out, watched).
    """
    figure = new_figure(7.5, 3.8)
    axes = figure.add_subplot()
    iteration = history["iteration"].to_numpy(float)
    values = []
    for column, label, style in (
        ("train", "training loss", {"lw": 1.2}),
        ("validation", "validation loss", {"lw": 1.2, "marker": "o", "ms": 3}),
        ("test", "held-out loss (watched only)", {"lw": 1.2, "marker": "s", "ms": 3}),
    ):
        if column not in history:
            continue
        loss = history[column].to_numpy(float)
        kept = np.isfinite(loss) & np.isfinite(iteration)
        if kept.any():
            axes.plot(iteration[kept], loss[kept], label=label, **style)
            values.append(loss[kept])
    if best_iteration is not None:
        kept = "weights kept" if restored else "last weights kept instead"
        label = f"lowest validation loss ({best_iteration}; {kept})"
        axes.axvline(best_iteration, color="0.4", ls="--", lw=1, label=label)
    logarithmic = bool(values) and all((v > 0).all() for v in values)
    if logarithmic:
        axes.set_yscale("log")
    axes.set_xlabel("iteration")
    axes.set_ylabel("loss (training objective" + (", log scale)" if logarithmic else ")"))
    figure.legend(loc="outside upper center", ncols=3)
    return save(figure, path)
