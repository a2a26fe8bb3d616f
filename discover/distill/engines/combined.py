"""The offline default: the rational and power-law engines first, then Operon with the
rest of the budget.

The rational engine is exhaustive and fast on polynomial, rational and exponential forms;
the power-law engine fits products of powers (also of inputs that are zero somewhere,
which the rational engine's log library skips); Operon covers the rest (thresholds,
saturating exponentials, logistic curves). Their candidates are merged into one front.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence

import numpy as np
import sympy

from discover.distill.engines.base import SearchOptions, register
from discover.distill.engines.operon import DEFAULT_TIME_BUDGET_S, OperonEngine
from discover.distill.engines.powerlaw import PowerLawEngine
from discover.distill.engines.rational import RationalEngine

RATIONAL_SHARE = 0.3
"""Largest share of the time budget the rational engine may use."""

POWERLAW_SHARE = 0.1
"""Largest share of the time budget the power-law engine may use (it needs far less)."""

OPERON_SETS: tuple[tuple[str, ...], ...] = (
    ("add", "sub", "mul", "div", "min", "max"),
    ("add", "sub", "mul", "div", "exp", "log"),
)
"""Operator sets of the Operon restarts when the user gives none: the rational engine
already covers plain arithmetic, so Operon looks for thresholds and exponentials."""


@register("rational+operon")
class CombinedEngine:
    """Rational and power-law engines, then Operon on the remaining budget; candidates
    merged (the name predates the power-law engine and is kept for existing runs)."""

    name = "rational+operon"

    def available(self) -> tuple[bool, str]:
        return OperonEngine().available()

    def search(
        self, X: np.ndarray, y: np.ndarray, names: Sequence[str], options: SearchOptions
    ) -> list[sympy.Expr]:
        budget = options.time_budget_s or DEFAULT_TIME_BUDGET_S
        started = time.monotonic()
        rational_options = dataclasses.replace(options, time_budget_s=RATIONAL_SHARE * budget)
        found = RationalEngine().search(X, y, names, rational_options)
        powerlaw_budget = max(2.0, POWERLAW_SHARE * budget)
        powerlaw_options = dataclasses.replace(options, time_budget_s=powerlaw_budget)
        found += PowerLawEngine().search(X, y, names, powerlaw_options)
        left = max(1.0, budget - (time.monotonic() - started))
        extra = dict(options.extra)
        extra.setdefault("operator_sets", OPERON_SETS)
        operon_options = dataclasses.replace(
            options, time_budget_s=left, extra=tuple(sorted(extra.items()))
        )
        return found + OperonEngine().search(X, y, names, operon_options)
