"""PySR: symbolic regression in Julia, used where Julia and PySR can run.

Importing ``pysr`` may try to download Julia, so it is never imported here before a
subprocess has shown, within a timeout, that the import works.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import sympy

from discover.distill.engines.base import SearchOptions, register
from discover.expressions import parse_expression

PROBE_TIMEOUT_S = 120.0

BINARY = {"add": "+", "sub": "-", "mul": "*", "div": "/", "pow": "^", "min": "min", "max": "max"}
UNARY = {"exp": "exp", "log": "log", "sqrt": "sqrt", "abs": "abs", "tanh": "tanh"}
UNARY.update(sin="sin", cos="cos")
DEFAULT_OPERATORS = ("add", "sub", "mul", "div", "pow", "exp", "log", "min", "max")
DEFAULT_TIME_BUDGET_S = 60.0


@lru_cache(maxsize=1)
def probe_pysr(timeout_s: float = PROBE_TIMEOUT_S) -> tuple[bool, str]:
    """Whether ``import pysr`` works here (run once, in a subprocess, with a timeout)."""
    if importlib.util.find_spec("pysr") is None:
        return False, "the pysr package is not installed"
    try:
        done = subprocess.run(
            [sys.executable, "-c", "import pysr; pysr.PySRRegressor"],
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )
    except subprocess.TimeoutExpired:
        return False, f"importing pysr took longer than {timeout_s:g} s (Julia set-up?)"
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["unknown error"])[-1]
        return False, f"importing pysr failed: {last}"
    return True, ""


@register("pysr")
class PySREngine:
    """PySR's regressor; its ``equations_`` table is the front.

    Engine-specific options (``extra``): ``populations`` (15), ``niterations`` (100000:
    the time budget ends the search), ``deterministic`` (True: serial and seeded).
    """

    name = "pysr"

    def available(self) -> tuple[bool, str]:
        return probe_pysr()

    def search(
        self, X: np.ndarray, y: np.ndarray, names: Sequence[str], options: SearchOptions
    ) -> list[sympy.Expr]:
        import pysr  # guarded: available() has shown the import works

        operators = options.operators or DEFAULT_OPERATORS
        unknown = [op for op in operators if op not in BINARY and op not in UNARY]
        if unknown:
            raise ValueError(f"pysr engine has no operator(s) {unknown}")
        deterministic = bool(options.option("deterministic", True))
        expressions: list[sympy.Expr] = []
        budget = options.time_budget_s or DEFAULT_TIME_BUDGET_S
        for restart in range(options.restarts):
            model = pysr.PySRRegressor(
                binary_operators=[BINARY[op] for op in operators if op in BINARY],
                unary_operators=[UNARY[op] for op in operators if op in UNARY],
                maxsize=options.max_complexity,
                niterations=int(options.option("niterations", 100_000)),
                populations=int(options.option("populations", 15)),
                timeout_in_seconds=budget / options.restarts,
                random_state=options.seed + restart,
                deterministic=deterministic,
                parallelism="serial" if deterministic else "multithreading",
                progress=False,
                verbosity=0,
            )
            model.fit(X, y, variable_names=list(names))
            for text in model.equations_["equation"]:
                expressions.append(parse_expression(text, names))
        return expressions
