"""Operon (``pyoperon``): fast genetic programming with local constant optimisation.

Installs from PyPI wheels alone, so it is the offline engine. The Pareto front comes from
Operon's two objectives (r², length). Operon prints each model as an infix string whose
operators match what it evaluated (in pyoperon 0.6.2 the symbol requested as ``fmin``
evaluates and prints as ``max``, and ``fmax`` as ``min``); :func:`parse_operon` reads that
printed string, so ``min`` and ``max`` are always requested together.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import sympy

from discover.distill.engines.base import SearchOptions, register
from discover.expressions import parse_expression

OPERON_SYMBOLS: dict[str, str] = {
    "add": "add",
    "sub": "sub",
    "mul": "mul",
    "div": "div",
    "pow": "pow",
    "exp": "exp",
    "log": "log",
    "sqrt": "sqrt",
    "square": "square",
    "abs": "abs",
    "tanh": "tanh",
    "sin": "sin",
    "cos": "cos",
    "min": "fmin,fmax",
    "max": "fmin,fmax",
}
"""Operator name used by discover → Operon symbol(s)."""

DEFAULT_OPERATOR_SETS: tuple[tuple[str, ...], ...] = (
    ("add", "sub", "mul", "div"),
    ("add", "sub", "mul", "div", "exp", "log"),
    ("add", "sub", "mul", "div", "min", "max"),
)
"""Operator sets cycled over restarts when the user gives none: small sets search faster."""

DEFAULT_TIME_BUDGET_S = 30.0

DEFAULT_GENERATIONS = 300
"""Generations of one restart unless the time budget ends it first (option
``generations``). A search bounded by its work repeats exactly for a seed and costs the
same on an idle or a loaded machine; one bounded by wall-clock time alone ran 600-1500
generations a restart of the offline engine's 14 s on an idle machine (10 ms each for
1000 trees on 2000 samples with thresholds, 25 ms with exp and log; one thread) and
100-300 on one shared by other work (1.3-2.8 CPU seconds a restart in ODEBench runs at
load 11-15 on 2 cores)."""


def operon_symbols(operators: Sequence[str]) -> str:
    """Operon's ``allowed_symbols`` string for discover operator names."""
    unknown = [op for op in operators if op not in OPERON_SYMBOLS]
    if unknown:
        raise ValueError(
            f"operon engine has no operator(s) {unknown}; use {sorted(OPERON_SYMBOLS)}"
        )
    symbols = {"constant", "variable"}
    for op in operators:
        symbols.update(OPERON_SYMBOLS[op].split(","))
    return ",".join(sorted(symbols))


def parse_operon(text: str, names: Sequence[str]) -> sympy.Expr:
    """Parse an Operon model string (variables ``X1``..``Xk``) into ``names``."""
    operon_names = [f"X{j + 1}" for j in range(len(names))]
    expr = parse_expression(text, operon_names)
    mapping = {
        sympy.Symbol(o, real=True): sympy.Symbol(n, real=True)
        for o, n in zip(operon_names, names, strict=True)
    }
    return expr.xreplace(mapping)


@register("operon")
class OperonEngine:
    """Operon's NSGA-II search over the r²/length front, one or more restarts.

    Engine-specific options (``extra``): ``n_threads`` (1), ``population_size`` (1000),
    ``generations`` (:data:`DEFAULT_GENERATIONS`; the time budget still ends a restart
    that has not finished them, so give a generous budget for runs that repeat exactly),
    ``operator_sets`` (sets cycled over restarts when ``operators`` is not given).
    """

    name = "operon"

    def available(self) -> tuple[bool, str]:
        try:
            import pyoperon.sklearn  # noqa: F401
        except ImportError as err:
            return False, f"pyoperon cannot be imported ({err})"
        return True, ""

    def search(
        self, X: np.ndarray, y: np.ndarray, names: Sequence[str], options: SearchOptions
    ) -> list[sympy.Expr]:
        from pyoperon.sklearn import SymbolicRegressor

        if options.operators is not None:
            sets: Sequence[Sequence[str]] = [options.operators]
        else:
            sets = options.option("operator_sets", DEFAULT_OPERATOR_SETS)
        budget = options.time_budget_s or DEFAULT_TIME_BUDGET_S
        per_restart = max(1, math.floor(budget / options.restarts))
        generations = int(options.option("generations", DEFAULT_GENERATIONS))
        expressions: list[sympy.Expr] = []
        for restart in range(options.restarts):
            regressor = SymbolicRegressor(
                allowed_symbols=operon_symbols(sets[restart % len(sets)]),
                objectives=["r2", "length"],
                max_length=options.max_complexity,
                max_depth=10,
                population_size=int(options.option("population_size", 1000)),
                generations=generations,
                max_evaluations=10**15,
                max_time=per_restart,
                n_threads=int(options.option("n_threads", 1)),
                random_state=options.seed + restart,
            )
            regressor.fit(X, y)
            for solution in regressor.pareto_front_:
                text = regressor.get_model_string(solution["tree"], 12)
                expressions.append(parse_operon(text, names))
        return expressions
