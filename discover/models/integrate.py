"""ODE integrators: fixed-step RK4 with substeps, and adaptive solvers through torchdiffeq."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

RHS = Callable[[Tensor, Tensor], Tensor]
"""Right-hand side ``f(t, y) -> dy/dt``; ``t`` a scalar tensor, ``y`` of shape [batch, state]."""

ADAPTIVE_METHODS = ("dopri5", "dopri8", "bosh3", "adaptive_heun")


def rk4(
    func: RHS,
    y0: Tensor,
    times: Tensor,
    substeps: int = 1,
    bounds: tuple[Tensor, Tensor] | None = None,
) -> Tensor:
    """Integrate with the classic fourth-order Runge–Kutta scheme.

    Args:
        func: right-hand side ``f(t, y)``; ``t`` is a scalar, or [batch] with per-row times.
        y0: initial state [batch, state] at ``times[0]``.
        times: increasing output times [time], or [time, batch]: each row on its own grid.
        substeps: RK4 steps inside each output interval.
        bounds: lower and upper bounds [state]; the state is clipped into them after
            every step.

    Returns:
        States at ``times``, shape [time, batch, state] (``times[0]`` gives ``y0``).
    """
    if substeps < 1:
        raise ValueError(f"substeps must be >= 1, got {substeps}")
    y = _clip(y0, bounds)
    out = [y]
    steps = (times[1:] - times[:-1]) / substeps  # [time - 1] or [time - 1, batch]
    for t0, h in zip(times[:-1].unbind(0), steps.unbind(0), strict=True):
        dt = h.unsqueeze(-1) if h.dim() else h  # per-row steps act on [batch, state]
        half, half_dt, sixth_dt = h / 2, dt / 2, dt / 6
        t = t0
        for _ in range(substeps):
            middle, end = t + half, t + h
            k1 = func(t, y)
            k2 = func(middle, y + half_dt * k1)
            k3 = func(middle, y + half_dt * k2)
            k4 = func(end, y + dt * k3)
            y = _clip(y + sixth_dt * (k1 + 2 * k2 + 2 * k3 + k4), bounds)
            t = end
        out.append(y)
    return torch.stack(out)


def solve(
    func: RHS,
    y0: Tensor,
    times: Tensor,
    method: str = "rk4",
    substeps: int = 1,
    rtol: float = 1e-6,
    atol: float = 1e-8,
    adjoint: bool = False,
    bounds: tuple[Tensor, Tensor] | None = None,
) -> Tensor:
    """Integrate ``dy/dt = func(t, y)`` and return states [time, batch, state] at ``times``.

    ``method`` is ``"rk4"`` (fixed step, ``substeps`` per output interval) or one of the
    adaptive torchdiffeq methods (``dopri5``, ...) with tolerances ``rtol``/``atol``;
    ``adjoint`` (adaptive methods only, ``func`` must be an ``nn.Module``) computes
    gradients by the adjoint method instead of backpropagating through the solver.
    ``times`` is [time], or with ``rk4`` [time, batch] (each row on its own grid).
    ``bounds`` (lower, upper) [state] clip the state: after every RK4 step, and the
    output of an adaptive solver.
    """
    if times.dim() not in (1, 2) or times.shape[0] < 2:
        raise ValueError("times must be [time] or [time, batch] with at least two times")
    if not bool((times[1:] > times[:-1]).all()):
        raise ValueError("times must be strictly increasing")
    if method == "rk4":
        if adjoint:
            raise ValueError("adjoint gradients need an adaptive method such as 'dopri5'")
        return rk4(func, y0, times, substeps, bounds)
    if method not in ADAPTIVE_METHODS:
        raise ValueError(f"unknown solver {method!r}; choose 'rk4' or one of {ADAPTIVE_METHODS}")
    if times.dim() != 1:
        raise ValueError(f"per-row times [time, batch] need the 'rk4' solver, not {method!r}")
    import torchdiffeq

    if adjoint:
        if not isinstance(func, nn.Module):
            raise TypeError("adjoint integration needs the right-hand side as an nn.Module")
        out = torchdiffeq.odeint_adjoint(func, y0, times, rtol=rtol, atol=atol, method=method)
    else:
        out = torchdiffeq.odeint(func, y0, times, rtol=rtol, atol=atol, method=method)
    return _clip(out, bounds)


def _clip(y: Tensor, bounds: tuple[Tensor, Tensor] | None) -> Tensor:
    """``y`` [..., state] clipped into ``bounds`` (lower, upper) [state]."""
    if bounds is None:
        return y
    return torch.minimum(torch.maximum(y, bounds[0]), bounds[1])
