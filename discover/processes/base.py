"""The process slot: one named function inside a model, with named inputs and a range.

An output range is a closed interval whose ends are constants or set by one input of the
slot (:class:`InputBound`, e.g. ``0 <= out <= pet``: evapotranspiration never exceeds the
potential rate)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy
import torch
from torch import Tensor, nn

from discover.errors import UserError
from discover.expressions import ExpressionError, expression_names, parse_expression

RANGE_RTOL = 1e-6
"""Slack of a range: a value counts as outside only beyond ``RANGE_RTOL·max(1, |end|)`` (the
range checks and a model's count of clipped outputs alike; a constant of 1.6e-7 added to
``pet·f(SW)`` is not a departure from ``[0, pet]`` on days without PET)."""

RANGE_FORMS = "'>=0', '<=1', '[0, 1]', '0 <= out <= pet', '<= 1.2*pet' or 'real'"
"""The forms an output range may take, for error messages."""


class OutputRangeError(UserError):
    """An output range was refused; the message quotes it."""


@dataclass(frozen=True)
class InputBound:
    """A bound set by an input of the slot: ``factor`` times input ``name``, e.g. ``1.2*pet``."""

    name: str
    factor: float = 1.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.factor) and self.factor > 0):
            raise OutputRangeError(
                f"bound {self} needs a positive factor of {self.name!r}, got {self.factor}"
            )

    @classmethod
    def parse(cls, text: str) -> InputBound:
        """Read ``"pet"``, ``"1.2*pet"`` or ``"pet/2"`` with the safe expression parser;
        anything but one input name times a positive constant is refused."""
        try:
            names = expression_names(text)
            if len(names) != 1 or "out" in names:
                raise OutputRangeError(
                    f"bound {text!r} must be a number or one input name times a positive "
                    f"constant (e.g. '1.2*pet'); it names {sorted(names) or 'none'}"
                )
            (name,) = names
            factor = sympy.simplify(parse_expression(text, names) / sympy.Symbol(name, real=True))
        except ExpressionError as err:
            raise OutputRangeError(f"cannot read bound {text!r}: {err}") from None
        if not factor.is_number or not factor.is_positive:
            raise OutputRangeError(
                f"bound {text!r} must be input {name!r} times a positive constant, "
                f"like '1.2*{name}'"
            )
        return cls(name, float(factor))

    def __call__(self, inputs: Mapping[str, Any]) -> Any:
        """The bound at the given inputs (tensors or arrays, by name)."""
        value = inputs[self.name]
        return value if self.factor == 1.0 else self.factor * value

    def __str__(self) -> str:
        return self.name if self.factor == 1.0 else f"{self.factor:g}*{self.name}"


@dataclass(frozen=True)
class OutputRange:
    """Closed interval an output must stay in; ``None`` marks an open end.

    ``low``/``high`` are constant ends; ``low_input``/``high_input`` are ends set by an
    input (at most one of each pair). Code that knows only constant ends sees an
    input-set end as open.
    """

    low: float | None = None
    high: float | None = None
    low_input: InputBound | None = None
    high_input: InputBound | None = None

    def __post_init__(self) -> None:
        if self.low is not None and self.low_input is not None:
            raise OutputRangeError("an output range has one lower bound, not two")
        if self.high is not None and self.high_input is not None:
            raise OutputRangeError("an output range has one upper bound, not two")
        if self.low is not None and self.high is not None and not self.low < self.high:
            raise OutputRangeError(f"output range needs low < high, got [{self.low}, {self.high}]")

    @classmethod
    def parse(cls, spec: str | Sequence[float | None] | OutputRange | None) -> OutputRange:
        """Read a range: ``">=0"``, ``"<=1"``, ``"[0, 1]"``, ``"real"``/``None``,
        ``(low, high)``, or with ends set by an input: ``"0 <= out <= pet"``,
        ``"out <= 1.2*pet"``, ``"<= pet"``, ``"[0, pet]"`` (``inf`` ends are open)."""
        if isinstance(spec, OutputRange):
            return spec
        if spec is None:
            return cls()
        if not isinstance(spec, str):
            low, high = spec
            return cls(low, high)
        text = spec.replace(" ", "")
        if text in ("", "real"):
            return cls()
        ends = _ends(text)
        if ends is None:
            raise OutputRangeError(f"cannot read output range {spec!r}; use {RANGE_FORMS}")
        low, high = (_end(end, spec) for end in ends)
        return cls(
            low=low if not isinstance(low, InputBound) else None,
            high=high if not isinstance(high, InputBound) else None,
            low_input=low if isinstance(low, InputBound) else None,
            high_input=high if isinstance(high, InputBound) else None,
        )

    @property
    def inputs(self) -> tuple[str, ...]:
        """Names of the inputs that set an end of the range."""
        return tuple(b.name for b in (self.low_input, self.high_input) if b is not None)

    def set_by_inputs(self) -> OutputRange:
        """Only the ends that inputs set (constant ends open)."""
        return OutputRange(low_input=self.low_input, high_input=self.high_input)

    def restricted_to(self, names: Sequence[str]) -> OutputRange:
        """This range without the ends set by inputs not among ``names`` (open there)."""
        low, high = self.low_input, self.high_input
        return OutputRange(
            low=self.low,
            high=self.high,
            low_input=low if low is not None and low.name in names else None,
            high_input=high if high is not None and high.name in names else None,
        )

    def limits(self, inputs: Mapping[str, Any]) -> tuple[Any, Any]:
        """Lower and upper end at ``inputs`` (tensors or arrays by name, each shaped like
        the output): a constant, a tensor/array, or ``None`` for an open end."""
        low = self.low_input(inputs) if self.low_input is not None else self.low
        high = self.high_input(inputs) if self.high_input is not None else self.high
        return low, high

    def squash(
        self,
        z: Tensor,
        scale: Tensor | float = 1.0,
        inputs: Mapping[str, Tensor] | None = None,
    ) -> Tensor:
        """Map an unbounded tensor into this range at ``inputs`` (needed for ends that
        inputs set): ``low + (high − low)·sigmoid(z)`` for two ends, otherwise ``scale``
        times softplus (one open end) or the identity (no bound)."""
        low, high = self.limits(inputs or {})
        zero_low = isinstance(low, float) and low == 0  # adding or taking 0 changes no value
        if low is not None and high is not None:
            if zero_low:  # two operations fewer, e.g. for ``0 <= out <= pet``
                return high * torch.sigmoid(z)
            return low + (high - low) * torch.sigmoid(z)
        if zero_low:
            return scale * nn.functional.softplus(z)
        if low is not None:
            return low + scale * nn.functional.softplus(z)
        if high is not None:
            return high - scale * nn.functional.softplus(z)
        return scale * z

    def clamp(self, out: Tensor, inputs: Mapping[str, Tensor]) -> Tensor:
        """``out`` clipped into this range at ``inputs`` (tensors by name, like ``out``)."""
        low, high = self.limits(inputs)
        if low is not None:
            out = out.clamp_min(low)
        if high is not None:
            out = out.clamp_max(high)
        return out

    def clamper(self, names: Sequence[str]) -> Callable[[Tensor, Sequence[Tensor]], Tensor]:
        """:meth:`clamp` for inputs given in the order of ``names`` (a sequence, not a
        mapping), with what each end is looked up once: the same operations, for many
        calls (e.g. a slot's every simulated day)."""
        positions = {name: i for i, name in enumerate(names)}
        ends = [
            (clamp, _end_at(constant, bound, positions))
            for clamp, constant, bound in (
                (Tensor.clamp_min, self.low, self.low_input),
                (Tensor.clamp_max, self.high, self.high_input),
            )
            if constant is not None or bound is not None
        ]

        def clamped(out: Tensor, args: Sequence[Tensor]) -> Tensor:
            for clamp, at in ends:
                out = clamp(out, at(args))
            return out

        return clamped

    def outside(
        self, values: np.ndarray, inputs: Mapping[str, np.ndarray], rtol: float = RANGE_RTOL
    ) -> np.ndarray:
        """Which ``values`` [n] leave the range at ``inputs`` (arrays [n] by name) by more
        than ``rtol`` times ``max(1, |end|)``; NaN counts as inside (finiteness is a
        separate question)."""
        low, high = self.limits(inputs)
        out = np.zeros(np.shape(values), dtype=bool)
        with np.errstate(invalid="ignore"):
            if low is not None:
                out |= values < low - rtol * np.maximum(1.0, np.abs(low))
            if high is not None:
                out |= values > high + rtol * np.maximum(1.0, np.abs(high))
        return out

    def __str__(self) -> str:
        low = self.low_input or ("-inf" if self.low is None else f"{self.low:g}")
        high = self.high_input or ("inf" if self.high is None else f"{self.high:g}")
        return f"[{low}, {high}]"

    @property
    def bounded(self) -> bool:
        ends = (self.low, self.high, self.low_input, self.high_input)
        return any(end is not None for end in ends)

    def width(self) -> float:
        if self.low is None or self.high is None:
            return math.inf
        return self.high - self.low


def _ends(text: str) -> tuple[str | None, str | None] | None:
    """The lower and upper end of a range written without spaces (``None``: open end),
    or ``None`` when ``text`` has none of the accepted forms."""
    if text.startswith("[") and text.endswith("]"):
        parts = text[1:-1].split(",")
        return (parts[0], parts[1]) if len(parts) == 2 else None
    for prefix, side in ((">=", 0), ("out>=", 0), ("<=", 1), ("out<=", 1)):
        if text.startswith(prefix) and "<=" not in text[len(prefix) :]:
            end = text[len(prefix) :]
            return (end, None) if side == 0 else (None, end)
    if text.endswith("<=out"):
        return text[: -len("<=out")], None
    parts = text.split("<=")
    if len(parts) == 3 and parts[1] == "out":
        return parts[0], parts[2]
    return None


def _end_at(
    constant: float | None, bound: InputBound | None, positions: Mapping[str, int]
) -> Callable[[Sequence[Tensor]], Tensor | float]:
    """One end of a range (a ``constant`` or an input's ``bound``) as a function of the
    inputs in order (``positions``: input name → place), as :meth:`InputBound.__call__`
    computes it."""
    if bound is None:
        return lambda args: constant
    index, factor = positions[bound.name], bound.factor
    if factor == 1.0:
        return lambda args: args[index]
    return lambda args: factor * args[index]


def _end(text: str | None, spec: str) -> float | InputBound | None:
    """One end: open (``None``, ``inf``), a number, or a bound set by an input."""
    if text is None:
        return None
    if not text:
        raise OutputRangeError(f"cannot read output range {spec!r}; use {RANGE_FORMS}")
    try:
        value = float(text)
    except ValueError:
        return InputBound.parse(text)
    return None if math.isinf(value) else value


class Process(nn.Module):
    """A process slot implementation: named inputs in, one tensor out.

    Every input tensor has the same (broadcastable) shape, e.g. ``[site, nmul]`` inside
    a model's time loop or ``[samples]`` when evaluated on probed data; the output has
    that shape too. Subclasses implement :meth:`evaluate`.

    While :meth:`start_recording` is active the slot keeps (detached) copies of what it
    saw and returned, so the visited domain can be probed after a model run.
    """

    kind: str = "process"

    def __init__(self, inputs: Sequence[str], output_range: OutputRange | str | None = None):
        super().__init__()
        if len(inputs) == 0:
            raise ValueError("a process needs at least one named input")
        if len(set(inputs)) != len(inputs):
            raise ValueError(f"duplicate input names in {list(inputs)}")
        self.inputs: tuple[str, ...] = tuple(inputs)
        self.output_range = OutputRange.parse(output_range)
        unknown = [name for name in self.output_range.inputs if name not in self.inputs]
        if unknown:
            raise OutputRangeError(
                f"output range {self.output_range} is bounded by {unknown}, which is not "
                f"among the inputs {list(self.inputs)}"
            )
        self._records: list[tuple[Tensor, Tensor]] | None = None

    def evaluate(self, args: Sequence[Tensor]) -> Tensor:
        """Compute the output from the inputs, given in the order of ``self.inputs``."""
        raise NotImplementedError

    def function(self, dtype: torch.dtype) -> Callable[[Sequence[Tensor]], Tensor]:
        """:meth:`evaluate` for many calls with inputs of ``dtype`` while the process
        does not change (e.g. one ODE simulation); subclasses may prepare it once."""
        return self.evaluate

    def forward(self, inputs: Mapping[str, Tensor]) -> Tensor:
        try:
            args = [inputs[name] for name in self.inputs]
        except KeyError as err:
            raise KeyError(
                f"{self.kind} process needs input {err.args[0]!r}; got {sorted(inputs)}"
            ) from None
        args = list(torch.broadcast_tensors(*args))
        out = self.evaluate(args)
        if self._records is not None:
            stacked = torch.stack([a.detach().reshape(-1) for a in args], dim=-1)
            self._records.append((stacked, out.detach().reshape(-1)))
        return out

    def __call__(self, inputs: Mapping[str, Tensor]) -> Tensor:  # typed for callers
        return super().__call__(inputs)

    @property
    def recording(self) -> bool:
        """Whether :meth:`start_recording` is active (calls are then kept)."""
        return self._records is not None

    def start_recording(self) -> None:
        """Keep every input/output seen from now on (see :meth:`stop_recording`)."""
        self._records = []

    def stop_recording(self) -> tuple[Tensor, Tensor]:
        """Stop recording; return inputs ``[samples, len(inputs)]`` and outputs ``[samples]``."""
        records, self._records = self._records or [], None
        if not records:
            empty = torch.empty(0)
            return empty.reshape(0, len(self.inputs)), empty
        inputs = torch.cat([r[0] for r in records]).cpu()
        outputs = torch.cat([r[1] for r in records]).cpu()
        return inputs, outputs

    def describe(self) -> str:
        """One line for logs and reports."""
        return f"{self.kind}({', '.join(self.inputs)})"
