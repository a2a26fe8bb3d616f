"""Symbolic distillation: probe learned processes, rank their inputs, fit equations.

- :func:`probe` records what each neural slot of a model saw and returned;
  :func:`thin` reduces samples while keeping their range covered.
- :func:`rank_inputs` ranks a slot's inputs by SHAP values (:class:`InputRanking`).
- :func:`symbolic_fit` runs a symbolic-regression engine and returns a
  :class:`ParetoFront` of polished candidates with one selected.
"""

from discover.distill.api import OFFLINE_ENGINE, symbolic_fit
from discover.distill.importance import InputRanking, rank_inputs
from discover.distill.pareto import Candidate, ParetoFront, expression_complexity
from discover.distill.probe import ProbeSamples, probe
from discover.distill.sampling import thin

__all__ = [
    "OFFLINE_ENGINE",
    "Candidate",
    "InputRanking",
    "ParetoFront",
    "ProbeSamples",
    "expression_complexity",
    "probe",
    "rank_inputs",
    "symbolic_fit",
    "thin",
]
