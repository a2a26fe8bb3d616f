"""Symbolic distillation: probe learned processes, rank their inputs, fit equations."""

from discover.distill.api import OFFLINE_ENGINE, symbolic_fit
from discover.distill.pareto import Candidate, ParetoFront, expression_complexity

__all__ = ["OFFLINE_ENGINE", "Candidate", "ParetoFront", "expression_complexity", "symbolic_fit"]
