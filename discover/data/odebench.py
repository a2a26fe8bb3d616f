"""ODEBench: the 63 ODE systems of d'Ascoli et al. (ICLR 2024), loaded and simulated.

The definitions (``discover/data/files/odebench.json``, attribution in
``discover/data/files/ATTRIBUTION.md``) give for each system its right-hand sides with the
constants substituted, two initial conditions and the shared time span. States are named
``x_0 .. x_{dim-1}``. Equations are read with :func:`discover.expressions.parse_expression`
(``cot(a)`` is read as a declared function and written ``1/tan(a)``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources

import numpy as np
import sympy
from scipy.integrate import solve_ivp
from sympy.core.function import AppliedUndef

from discover.errors import UserError
from discover.expressions import parse_expression

ODEBENCH_FILE = "odebench.json"

BLOW_UP = 1e6
"""A trajectory ends when a state's magnitude passes this many times the larger of 1 and the
initial state's largest magnitude (the systems' own trajectories stay within 61 times)."""

MAX_EVALUATIONS = 100_000
"""Evaluations of the right-hand sides after which an integration is given up (the systems'
own trajectories take a few hundred)."""


class OdeBenchError(UserError):
    """An ODEBench system id, initial condition or simulation setting was refused."""


@dataclass(frozen=True)
class OdeSystem:
    """One ODEBench system.

    Attributes:
        id: ODEBench id (1..63).
        description: what the system models (ODEBench's ``eq_description``).
        names: state names ``("x_0", ...)``.
        rhs: right-hand side of each state, ``dx_i/dt``, over ``names``.
        initial_conditions: ODEBench's initial states, ``[conditions, states]``.
        t_span: start and end time of the trajectories.
    """

    id: int
    description: str
    names: tuple[str, ...]
    rhs: tuple[sympy.Expr, ...]
    initial_conditions: tuple[tuple[float, ...], ...]
    t_span: tuple[float, float]

    def derivative(self) -> Callable[[np.ndarray], np.ndarray]:
        """``f(X) -> [samples, states]``: the right-hand sides at ``X`` ``[samples, states]``."""
        symbols = [sympy.Symbol(n, real=True) for n in self.names]
        functions = [sympy.lambdify(symbols, expr, modules="numpy") for expr in self.rhs]

        def evaluate(X: np.ndarray) -> np.ndarray:
            X = np.atleast_2d(np.asarray(X, dtype=float))
            columns = [X[:, j] for j in range(X.shape[1])]
            return np.stack(
                [np.broadcast_to(np.asarray(f(*columns), float), len(X)) for f in functions],
                axis=1,
            )

        return evaluate

    def simulate(
        self,
        condition: int = 0,
        n_times: int = 200,
        noise: float = 0.0,
        seed: int = 0,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Integrate from one of the stated initial conditions over :attr:`t_span`.

        Args:
            condition: index of the initial condition (0 or 1).
            n_times: evenly spaced output times.
            noise: relative level of multiplicative Gaussian noise on the states
                (``x * (1 + noise * N(0, 1))``), 0 for none.
            seed: seed of the noise.

        Returns:
            ``(t [time], X [time, states])``; the trajectory ends early (fewer rows) when
            the solver stops or a state blows up (:data:`BLOW_UP`).

        Raises:
            OdeBenchError: for an unknown condition, a negative noise level, or an
                integration that takes over :data:`MAX_EVALUATIONS` evaluations.
        """
        if not 0 <= condition < len(self.initial_conditions):
            raise OdeBenchError(
                f"ODEBench system {self.id} has initial conditions 0.."
                f"{len(self.initial_conditions) - 1}, not {condition}"
            )
        if noise < 0:
            raise OdeBenchError(f"noise must be a non-negative relative level, got {noise}")
        initial = self.initial_conditions[condition]
        t, X = integrate(self.derivative(), initial, self.t_span, n_times)
        rng = np.random.default_rng(seed)
        return t, X * (1 + noise * rng.normal(size=X.shape))


def integrate(
    f: Callable[[np.ndarray], np.ndarray],
    initial: Sequence[float],
    t_span: tuple[float, float],
    n_times: int,
) -> tuple[np.ndarray, np.ndarray]:
    """``(t [time], X [time, states])`` of ``dX/dt = f(X)`` (LSODA, tolerances 1e-9) from
    ``initial`` at ``n_times`` evenly spaced times of ``t_span``, ended at a blow-up.

    LSODA never returns once a state overflows (it retries its step without end), so a
    state past :data:`BLOW_UP` times its initial scale ends the trajectory first, and
    :data:`MAX_EVALUATIONS` bounds the work."""
    bound = BLOW_UP * max(1.0, float(np.max(np.abs(initial))))
    evaluations = 0

    def rhs(_: float, x: np.ndarray) -> np.ndarray:
        nonlocal evaluations
        evaluations += 1
        if evaluations > MAX_EVALUATIONS:
            raise OdeBenchError(f"integration gave up after {MAX_EVALUATIONS} evaluations")
        return f(x[None, :])[0]

    def blow_up(_: float, x: np.ndarray) -> float:
        return bound - float(np.max(np.abs(x)))

    blow_up.terminal = True  # type: ignore[attr-defined]
    with np.errstate(all="ignore"):
        solution = solve_ivp(
            rhs,
            t_span,
            initial,
            t_eval=np.linspace(*t_span, n_times),
            method="LSODA",
            rtol=1e-9,
            atol=1e-9,
            events=blow_up,
        )
    return solution.t, solution.y.T


def load_odebench(ids: Sequence[int] | None = None) -> list[OdeSystem]:
    """The ODEBench systems (all 63, or those with the given ids, in that order)."""
    data = json.loads(resources.files("discover.data").joinpath("files", ODEBENCH_FILE).read_text())
    t_span = (float(data["t_span"][0]), float(data["t_span"][1]))
    systems = {entry["id"]: _system(entry, t_span) for entry in data["systems"]}
    if ids is None:
        return list(systems.values())
    unknown = [i for i in ids if i not in systems]
    if unknown:
        raise OdeBenchError(f"no ODEBench system with id(s) {unknown}; ids are 1..{len(systems)}")
    return [systems[i] for i in ids]


def _system(entry: dict, t_span: tuple[float, float]) -> OdeSystem:
    names = tuple(f"x_{j}" for j in range(int(entry["dim"])))
    texts = entry["substituted"][0]
    if len(texts) != len(names):
        raise OdeBenchError(
            f"{ODEBENCH_FILE}: system {entry['id']} has {len(texts)} equations for "
            f"{len(names)} states"
        )
    rhs = tuple(
        parse_expression(text, names, unknown_functions={"cot": 1}).replace(
            lambda node: isinstance(node, AppliedUndef) and node.func.__name__ == "cot",
            lambda node: 1 / sympy.tan(node.args[0]),
        )
        for text in texts
    )
    conditions = tuple(tuple(float(v) for v in init) for init in entry["init"])
    return OdeSystem(int(entry["id"]), str(entry["eq_description"]), names, rhs, conditions, t_span)
