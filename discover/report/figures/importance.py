"""SHAP importance of a slot's inputs as a bar chart."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.patches import Patch

from discover.report.figures.common import axis_label, new_figure, save, styled
from discover.report.rundir import SlotImportance

KEPT, DROPPED = "#4c72b0", "#b0b0b0"


@styled
def shap_bars(slot: str, importance: SlotImportance, units: str | None, path: Path) -> Path:
    """Mean |SHAP value| per input, largest on top; kept inputs coloured, dropped grey."""
    order = np.argsort(importance.mean_abs_shap)
    names = [importance.inputs[i] for i in order]
    values = [importance.mean_abs_shap[i] for i in order]
    figure = new_figure(6.5, 1.8 + 0.4 * len(names))
    axes = figure.add_subplot()
    colours = [KEPT if n in importance.kept else DROPPED for n in names]
    axes.barh(names, values, color=colours)
    axes.set_xlabel(axis_label("mean |SHAP value| (effect on the output)", units))
    axes.set_ylabel("input")
    axes.set_title(f"Input importance of slot {slot}")
    axes.grid(axis="y", visible=False)
    handles = [Patch(color=KEPT, label="kept for symbolic regression")]
    if any(n not in importance.kept for n in names):
        handles.append(Patch(color=DROPPED, label="dropped"))
    figure.legend(handles=handles, loc="outside lower center", ncols=2)
    return save(figure, path)
