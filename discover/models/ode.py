"""ODE models declared from equation strings, with unknown functions as process slots.

A universal differential equation such as Lotka–Volterra with unknown interactions::

    model = ODEModel(
        states=["x", "y"],
        equations={"x": "alpha*x - F(x, y)", "y": "-delta*y + G(x, y)"},
        parameters={"alpha": 1.3, "delta": 1.8},
        functions={"F": ["x", "y"], "G": ["x", "y"]},
    )
    model.set_slot("F", Neural(["x", "y"]))

Each unknown function is a slot whose inputs are its declared argument names; a call
``F(a, b)`` in an equation passes ``a`` and ``b`` to the slot's inputs in order.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch
from sympy.core.function import AppliedUndef
from torch import Tensor

from discover.expressions import parse_expression
from discover.models.base import HybridModel
from discover.models.integrate import solve
from discover.models.interpolate import LinearInterpolation
from discover.processes.compile import Constants, ExpressionModule

TIME = "t"
"""Name under which equations may use the current time."""


class ODEModel(HybridModel):
    """``dy/dt = f(y, t, forcings)`` with named states, constants, forcings and slots.

    Args:
        states: state names, in the order of the state vector.
        equations: per state, the right-hand side as an equation string.
        parameters: known constants by name.
        functions: unknown functions by name, each with its input names.
        forcings: names of forcing series (interpolated linearly in time).
        solver: ``"rk4"`` or an adaptive torchdiffeq method (``"dopri5"``, ...).
        substeps: RK4 steps per output interval.
        rtol, atol: tolerances of adaptive solvers.
        adjoint: adjoint gradients (adaptive solvers only).
        bounds: per state name, ``(min, max)`` it is held in (``None``: unbounded): the
            right-hand side sees the state clipped into them and cannot push it further
            out, and the solver clips the state after every step.
    """

    def __init__(
        self,
        states: Sequence[str],
        equations: Mapping[str, str],
        parameters: Mapping[str, float] | None = None,
        functions: Mapping[str, Sequence[str]] | None = None,
        forcings: Sequence[str] = (),
        solver: str = "rk4",
        substeps: int = 4,
        rtol: float = 1e-6,
        atol: float = 1e-8,
        adjoint: bool = False,
        bounds: Mapping[str, tuple[float | None, float | None]] | None = None,
    ):
        functions = {name: tuple(inputs) for name, inputs in (functions or {}).items()}
        super().__init__(functions, bounds)  # a bounded state is a bounded slot input
        parameters = dict(parameters or {})
        self.states = tuple(states)
        self.forcing_names = tuple(forcings)
        self.functions = functions
        _check_names(self.states, parameters, functions, self.forcing_names)
        missing = [s for s in self.states if s not in equations]
        extra = [s for s in equations if s not in self.states]
        if missing or extra:
            raise ValueError(
                f"equations must be given for exactly the states {list(self.states)}; "
                f"missing {missing}, not states {extra}"
            )
        names = [*self.states, *parameters, *self.forcing_names, TIME]
        arity = {name: len(inputs) for name, inputs in functions.items()}
        parsed = {s: parse_expression(equations[s], names, arity) for s in self.states}
        self.equations = parsed
        unused = set(functions).difference(*(self.calls(s) for s in self.states))
        if unused:
            raise ValueError(f"function(s) {sorted(unused)} are declared but used in no equation")
        self.rhs_modules = torch.nn.ModuleList(
            [ExpressionModule(parsed[s], names, trainable=False) for s in self.states]
        )
        self.register_buffer(
            "parameter_values",
            torch.tensor([float(v) for v in parameters.values()], dtype=torch.get_default_dtype()),
        )
        self.parameter_names = tuple(parameters)
        self.solver = dict(method=solver, substeps=substeps, rtol=rtol, atol=atol, adjoint=adjoint)
        self._forcing: LinearInterpolation | None = None
        self._shared: _Setting | None = None
        """The right-hand side's shared setting during :meth:`simulate`."""
        self.bounded = bool(bounds)
        lower, upper = _bound_vectors(self.states, bounds or {})
        self.register_buffer("lower", lower, persistent=False)
        self.register_buffer("upper", upper, persistent=False)

    def calls(self, state: str) -> set[str]:
        """Names of the functions (slots) the equation of ``state`` calls."""
        return {f.func.__name__ for f in self.equations[state].atoms(AppliedUndef)}

    def reads(self, state: str) -> set[str]:
        """The states the equation of ``state`` reads (itself too, when it does)."""
        return {str(symbol) for symbol in self.equations[state].free_symbols} & set(self.states)

    # -- the right-hand side -----------------------------------------------------------
    def forward(self, t: Tensor, y: Tensor) -> Tensor:
        """``dy/dt`` at time ``t`` (scalar, or [batch] with per-row times) for states
        ``y`` [batch, state]."""
        forcing = None
        if self.forcing_names:
            if self._forcing is None:
                raise RuntimeError("this model has forcings: call simulate(..., forcing=...)")
            forcing = self._forcing(t).to(y.dtype)  # [batch, forcing]
        return self._rates(self._shared or self._setting(y.dtype), t, y, forcing)

    def rates(self, t: Tensor, y: Tensor, forcing: Tensor | None = None) -> Tensor:
        """``dy/dt`` [batch, state] at times ``t`` (scalar or [batch]) for states ``y``
        [batch, state] and forcing values ``forcing`` [batch, forcing] (if any forcings).

        A bounded state enters the equations clipped into its bounds, and at a bound its
        rate may not point further out."""
        return self._rates(self._setting(y.dtype), t, y, forcing)

    def known_rates(self, t: Tensor, y: Tensor, forcing: Tensor | None = None) -> Tensor:
        """:meth:`rates` with every slot's output 0 (empty slots too): what the equations'
        known terms alone give, [batch, state]."""
        parameters = self.parameter_values.to(y.dtype).unbind()
        zero = lambda *args: torch.zeros_like(args[0])  # noqa: E731
        slots = dict.fromkeys(self.functions, zero)
        constants = [module.split_constants() for module in self.rhs_modules]
        return self._rates(_Setting(parameters, slots, constants), t, y, forcing)

    def _setting(self, dtype: torch.dtype) -> _Setting:
        """What every evaluation of the right-hand side with states of ``dtype`` shares
        until a slot or constant changes (built once per simulation)."""
        parameters = self.parameter_values.to(dtype).unbind()
        slots = {name: self._slot_caller(name, dtype) for name in self.functions}
        constants = [module.split_constants() for module in self.rhs_modules]
        return _Setting(parameters, slots, constants)

    def _rates(
        self, setting: _Setting, t: Tensor, y: Tensor, forcing: Tensor | None = None
    ) -> Tensor:
        if self.bounded:
            y = torch.minimum(torch.maximum(y, self.lower), self.upper)
        time = t if t.dtype == y.dtype else t.to(y.dtype)
        # the equations' names in order: states, parameters, forcings, time
        if self.forcing_names:
            if forcing is None:
                raise ValueError(f"forcing values of {list(self.forcing_names)} are required")
            values = [*y.unbind(-1), *setting.parameters, *forcing.unbind(-1), time]
        else:
            values = [*y.unbind(-1), *setting.parameters, time]
        shape = y.shape[:-1]
        rates = []
        for module, constants in zip(self.rhs_modules, setting.constants, strict=True):
            rate = module.evaluate(values, constants, setting.slots)
            rates.append(rate if rate.shape == shape else torch.broadcast_to(rate, shape))
        derivatives = torch.stack(rates, dim=-1)
        if self.bounded:
            outward = ((y <= self.lower) & (derivatives < 0)) | (
                (y >= self.upper) & (derivatives > 0)
            )
            derivatives = torch.where(outward, torch.zeros_like(derivatives), derivatives)
        return derivatives

    def _slot_caller(self, name: str, dtype: torch.dtype) -> Callable[..., Tensor]:
        if name not in self.slots:
            raise RuntimeError(f"slot {name!r} is empty: fill it with set_slot({name!r}, ...)")
        slot = self.slots[name]
        inputs = self.functions[name]
        if slot.recording:
            return lambda *args: slot(dict(zip(inputs, args, strict=True)))
        evaluate = slot.function(dtype)  # what the slot's call does past checks and records
        taken = [inputs.index(i) for i in slot.inputs]  # the slot may use some, in its order
        if taken == list(range(len(inputs))):
            taken = None

        def call(*args: Tensor) -> Tensor:
            shape = args[0].shape
            for arg in args:
                if arg.shape != shape:
                    args = torch.broadcast_tensors(*args)
                    break
            return evaluate(args if taken is None else [args[i] for i in taken])

        return call

    # -- simulation --------------------------------------------------------------------
    def simulate(self, y0: Tensor, times: Tensor, forcing: Tensor | None = None) -> Tensor:
        """Integrate from ``y0`` [batch, state] at ``times[0]``.

        Args:
            y0: initial states [batch, state].
            times: output times [time], strictly increasing; or [time, batch], each
                batch row on its own grid (``rk4`` only).
            forcing: forcing values at ``times``, [time, batch, forcing] (if any forcings).

        Returns:
            States [time, batch, state].
        """
        if y0.dim() != 2 or y0.shape[-1] != len(self.states):
            raise ValueError(f"y0 must be [batch, {len(self.states)}], got {tuple(y0.shape)}")
        if self.forcing_names:
            if forcing is None:
                raise ValueError(f"forcing series {list(self.forcing_names)} are required")
            self._forcing = LinearInterpolation(times, forcing)
        try:
            bounds = (self.lower.to(y0.dtype), self.upper.to(y0.dtype)) if self.bounded else None
            self._shared = self._setting(y0.dtype)
            rhs = self if self.solver["adjoint"] else self.forward  # no module call per step
            return solve(rhs, y0, times, **self.solver, bounds=bounds)
        finally:
            self._forcing = None
            self._shared = None


@dataclass(frozen=True)
class _Setting:
    """What the evaluations of the right-hand side share: the known constants in the
    order of their names (0-dim, in the states' dtype), the slot callers by function name
    and each equation's float constants (split once)."""

    parameters: tuple[Tensor, ...]
    slots: dict[str, Callable[..., Tensor]]
    constants: list[Constants]


def _bound_vectors(
    states: Sequence[str], bounds: Mapping[str, tuple[float | None, float | None]]
) -> tuple[Tensor, Tensor]:
    """Lower and upper bounds [state] (``-inf``/``inf`` where unbounded)."""
    unknown = [name for name in bounds if name not in states]
    if unknown:
        raise ValueError(f"bounds given for {unknown}, which are not states {list(states)}")
    lower = [bounds.get(s, (None, None))[0] for s in states]
    upper = [bounds.get(s, (None, None))[1] for s in states]
    as_vector = lambda values, missing: torch.tensor(  # noqa: E731
        [missing if v is None else float(v) for v in values], dtype=torch.get_default_dtype()
    )
    return as_vector(lower, -torch.inf), as_vector(upper, torch.inf)


def _check_names(
    states: Sequence[str],
    parameters: Mapping[str, float],
    functions: Mapping[str, Sequence[str]],
    forcings: Sequence[str],
) -> None:
    groups = {
        "state": list(states),
        "parameter": list(parameters),
        "function": list(functions),
        "forcing": list(forcings),
    }
    seen: dict[str, str] = {}
    for kind, names in groups.items():
        for name in names:
            if name == TIME:
                raise ValueError(f"{TIME!r} is reserved for time; rename the {kind} {name!r}")
            if name in seen:
                raise ValueError(f"name {name!r} is declared both as {seen[name]} and {kind}")
            seen[name] = kind
    for fname, inputs in functions.items():
        if not inputs:
            raise ValueError(f"function {fname!r} needs at least one input")
