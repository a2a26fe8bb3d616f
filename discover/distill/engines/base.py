"""The engine interface: an engine proposes raw candidate expressions for one slot."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import sympy
from scipy.optimize import minimize_scalar

from discover.processes.base import OutputRange


@dataclass(frozen=True)
class SearchOptions:
    """User options every engine honours where it can.

    Attributes:
        time_budget_s: wall-clock seconds for the whole search (``None``: engine default).
        seed: random seed; the same seed gives the same candidates where the engine allows.
        operators: operator names (``add sub mul div pow exp log sqrt min max`` ...);
            ``None`` lets the engine choose.
        max_complexity: largest expression size (nodes) to search.
        restarts: independent searches (seeds ``seed``, ``seed + 1``, ...) merged together.
        output_range: candidates whose outputs leave this range on the samples are dropped.
        extra: engine-specific settings, passed through by name.
    """

    time_budget_s: float | None = None
    seed: int = 0
    operators: tuple[str, ...] | None = None
    max_complexity: int = 15
    restarts: int = 1
    output_range: OutputRange = OutputRange()
    extra: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self) -> None:
        if self.time_budget_s is not None and self.time_budget_s <= 0:
            raise ValueError(f"time_budget_s must be positive, got {self.time_budget_s}")
        if self.max_complexity < 1:
            raise ValueError(f"max_complexity must be at least 1, got {self.max_complexity}")
        if self.restarts < 1:
            raise ValueError(f"restarts must be at least 1, got {self.restarts}")

    def option(self, name: str, default: Any) -> Any:
        """An engine-specific setting from ``extra``, or ``default``."""
        return dict(self.extra).get(name, default)


class Engine(Protocol):
    """A symbolic-regression engine.

    ``search`` gets ``X`` ``[samples, len(names)]`` and ``y`` ``[samples]`` (float64) and
    returns raw candidate expressions over ``names`` (real sympy symbols); the caller
    refits, simplifies and Pareto-filters them.
    """

    name: str

    def available(self) -> tuple[bool, str]:
        """Whether the engine can run here, and the reason when it cannot."""
        ...

    def search(
        self, X: np.ndarray, y: np.ndarray, names: Sequence[str], options: SearchOptions
    ) -> list[sympy.Expr]: ...


ENGINES: dict[str, Callable[[], Engine]] = {}
"""Engine name → factory."""


def register(name: str) -> Callable[[Callable[[], Engine]], Callable[[], Engine]]:
    """Class decorator adding an engine factory to :data:`ENGINES` under ``name``."""

    def add(factory: Callable[[], Engine]) -> Callable[[], Engine]:
        ENGINES[name] = factory
        return factory

    return add


def get_engine(name: str) -> Engine:
    """The engine registered as ``name``."""
    if name not in ENGINES:
        raise ValueError(f"unknown engine {name!r}; choose from {sorted(ENGINES)} or 'auto'")
    return ENGINES[name]()


def best_log_offset(loss: Callable[[float], float], reach: float, xatol: float) -> float:
    """The offset ``s`` in ``[-reach, reach]`` of a nonlinear constant's logarithm (a rate,
    a half-saturation) from its grid value that minimises ``loss(s)`` (bounded Brent
    search, precision ``xatol``), or 0 when it does not beat the grid value itself; a loss
    of inf marks an offset where the fit fails."""
    with np.errstate(all="ignore"):  # inf losses make Brent's parabola steps NaN
        result = minimize_scalar(
            loss, bounds=(-reach, reach), method="bounded", options={"xatol": xatol}
        )
    return float(result.x) if result.fun < loss(0.0) else 0.0
