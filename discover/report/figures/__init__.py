"""The report's figures, one module per family; each function writes one PNG."""

from discover.report.figures import series
from discover.report.figures.fronts import pareto_front
from discover.report.figures.importance import shap_bars
from discover.report.figures.scores import site_scores
from discover.report.figures.series import observed_vs_simulated
from discover.report.figures.slots import learned_vs_equations
from discover.report.figures.training import loss_curves

__all__ = [
    "learned_vs_equations",
    "loss_curves",
    "observed_vs_simulated",
    "pareto_front",
    "shap_bars",
    "series",
    "site_scores",
]
