"""Symbolic process: a closed-form expression whose constants stay trainable."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, ClassVar, Self

import sympy
import torch
from torch import Tensor

from discover.expressions import parse_expression
from discover.processes.base import RANGE_RTOL, OutputRange, Process
from discover.processes.compile import Constants, ExpressionModule

if TYPE_CHECKING:
    from discover.validate.range_guard import RangeGuard

_NO_FUNCTIONS: Mapping[str, Callable[..., Tensor]] = {}
"""A symbolic process's expression calls no functions."""


class _Context:
    """A context (``with Kind() as active:``) that evaluations find through
    :meth:`active`; activations of a kind nest and the innermost one is active."""

    _active: ClassVar[_Context | None] = None  # every kind keeps its own

    def __enter__(self) -> Self:
        kind = type(self)
        self._outer, kind._active = kind._active, self
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        type(self)._active = self._outer

    @classmethod
    def active(cls) -> Self | None:
        """The activation evaluations now report to, if any."""
        return cls._active  # type: ignore[return-value]


class ClipCount(_Context):
    """While active (``with ClipCount():``), the symbolic processes prepared count how
    many of their outputs they clip into their ranges (:meth:`Symbolic.clipped_share`),
    e.g. over the simulation a variant is recorded from; elsewhere (searches, training,
    scores) they count nothing: HBV with the equation ``pet*soil_wetness**b`` in its ET
    slot runs 63 torch operations a simulated day without gradients instead of 91
    (``benchmarks/hbv_overhead.py --et symbolic --ops``)."""

    _active: ClassVar[ClipCount | None] = None


class RangeExcess(_Context):
    """While active (``with RangeExcess() as excess:``), the symbolic processes evaluated
    tally how far their unclipped outputs lie beyond their declared output ranges (every
    end, input-set or constant), so that a training loss can keep their constants where
    the equations are physical (:meth:`penalty`). Clipping alone cannot: it has no
    gradient outside the range. The tally is the same with and without gradients (a
    search scores what training minimises).

    The penalty is the mean absolute excess relative to the root mean square output, not
    a squared excess: its gradient does not vanish as the excess does, so it holds a refit
    at the range's end where a squared one lets it drift a little beyond (on the planted
    twin of ``tests/core/test_range_penalty.py`` the refit reached 1.23·PET without a
    penalty, 1.18 with the squared one and 1.11 with this one).

    Args:
        columns: tally each of this many columns of the outputs on its own (e.g. the
            members and sites of a population, :mod:`discover.fit.population`), so that
            :meth:`penalty` is one per column; ``None``: one tally over everything.
        axis: the outputs' axis the columns are along.
    """

    _active: ClassVar[RangeExcess | None] = None

    def __init__(self, columns: int | None = None, axis: int = 0) -> None:
        self._sums: dict[tuple[int, torch.Size], tuple[Tensor, Tensor, int]] = {}
        """(process, output shape) → summed |excess| and squared output, as shaped
        (reduced only by :meth:`penalty`: one addition each a call), and how many calls."""
        self.columns, self.axis = columns, axis

    def add(self, process: Symbolic, out: Tensor, inside: Tensor) -> None:
        """Tally ``process``'s unclipped output ``out`` and ``inside``, ``out`` clipped
        into its declared range (same shape, output units).

        Raises:
            ValueError: with ``columns``, ``out`` has not that many along ``axis``."""
        if self.columns is not None and (out.dim() == 0 or out.shape[self.axis] != self.columns):
            raise ValueError(
                f"a range tally of {self.columns} columns along axis {self.axis} got an "
                f"output shaped {tuple(out.shape)}"
            )
        key, excess, kept = (id(process), out.shape), (out - inside).abs(), out.detach()
        before = self._sums.get(key)
        if before is None:
            self._sums[key] = (excess, kept.square(), 1)
        else:
            self._sums[key] = (
                before[0] + excess,
                torch.addcmul(before[1], kept, kept),
                before[2] + 1,
            )

    def penalty(self) -> Tensor | float:
        """Sum over the tallied processes of their mean absolute excess relative to their
        root mean square output (dimensionless, like a loss scaled by the observations'
        spread; 0 inside the range), [column] with ``columns``; differentiable in the
        constants (0.0 when nothing was tallied)."""
        totals: dict[int, tuple[Tensor, Tensor, int]] = {}
        for (process, _), (excess, squares, calls) in self._sums.items():
            n = calls * excess.numel() // (self.columns or 1)
            if self.columns is None:
                excess, squares = excess.sum(), squares.sum()
            else:
                others = [d for d in range(excess.dim()) if d != self.axis % excess.dim()]
                if others:  # (a sum over no axes would sum over all)
                    excess, squares = excess.sum(others), squares.sum(others)
            before = totals.get(process)
            if before is not None:
                excess, squares, n = before[0] + excess, before[1] + squares, before[2] + n
            totals[process] = (excess, squares, n)
        terms = [
            excess / (n * squares).sqrt().clamp_min(torch.finfo(squares.dtype).tiny)
            for excess, squares, n in totals.values()
        ]
        return sum(terms) if terms else 0.0


class Symbolic(Process):
    """A sympy expression over named inputs, compiled to torch.

    Numeric constants (floats) in the expression are trainable; named free constants
    (``parameters``, e.g. ``{"b": 0.5}`` for ``pet * soil_wetness**b``) are trainable
    too, starting from the given values.

    Ends of ``output_range`` that an input sets (``0 <= out <= pet``) are always enforced
    by clipping, since only the slot knows them; constant ends only with ``clip`` (a model
    may enforce those itself, as HBV clips outflows at 0). An input that sets an end is
    added to ``inputs`` when the expression's inputs lack it. In evaluations prepared
    while a :class:`ClipCount` is active (the simulation a variant is recorded from) the
    clipped share is counted: :meth:`clipped_share`. :attr:`module` is the unclipped
    equation. In evaluations while a :class:`RangeExcess` is active (a training loss), how
    far the unclipped output lies beyond the whole declared range is tallied, so that
    training keeps the constants where the equation is physical; :attr:`start` keeps the
    constants it was made with.

    Args:
        expression: a sympy expression or an equation string (parsed safely).
        inputs: names of the inputs the expression may use.
        parameters: named free constants and their initial values.
        output_range: declared range; the output is clipped into its input-set ends, and
            into all of it when ``clip``.
        clip: clip the output into the whole ``output_range`` (keeps a refitted equation
            physical).
        fixed_numbers: numbers in the expression stay fixed (only ``parameters`` train),
            as in a stated hypothesis such as ``pet*min(1, soil_wetness/0.7)``.
    """

    kind = "symbolic"

    def __init__(
        self,
        expression: sympy.Expr | str,
        inputs: Sequence[str],
        parameters: Mapping[str, float] | None = None,
        output_range: OutputRange | str | None = None,
        clip: bool = False,
        fixed_numbers: bool = False,
    ):
        output_range = OutputRange.parse(output_range)
        inputs = [*inputs, *(n for n in output_range.inputs if n not in inputs)]
        super().__init__(inputs, output_range)
        parameters = dict(parameters or {})
        clash = set(parameters) & set(self.inputs)
        if clash:
            raise ValueError(f"names {sorted(clash)} are both inputs and parameters")
        if isinstance(expression, str):
            names = [*self.inputs, *parameters]
            expression = parse_expression(expression, names, exact_numbers=fixed_numbers)
        elif fixed_numbers:
            exact = {f: sympy.Rational(str(f)) for f in expression.atoms(sympy.Float)}
            expression = expression.xreplace(exact)
        # Named constants become floats so the compiler makes them trainable; remember
        # which symbol each one was, to print them by name.
        placeholders = {sympy.Symbol(k, real=True): sympy.Float(v) for k, v in parameters.items()}
        self.parameter_names = tuple(parameters)
        self.source = expression
        self.module = ExpressionModule(expression.xreplace(placeholders), self.inputs)
        self.clip = clip
        self._input_limits = self.output_range.set_by_inputs()
        # evaluations counted (ClipCount): [clipped, all]; not saved with the model
        self.register_buffer("clip_counts", torch.zeros(2, dtype=torch.long), persistent=False)
        self.register_buffer("start", self.module.relative.detach().clone(), persistent=False)
        """The constants it was made with (``module.relative``), e.g. as distilled."""
        self.range_guard: RangeGuard | None = None
        """What :func:`~discover.validate.range_guard.keep_in_range` did to its refitted
        constants (a ``RangeGuard``), if anything."""

    def evaluate(self, args: Sequence[Tensor]) -> Tensor:
        return self._prepared(self.module.constants)(args)

    def function(self, dtype: torch.dtype) -> Callable[[Sequence[Tensor]], Tensor]:
        """:meth:`evaluate` for many calls while the constants do not change (e.g. one
        ODE simulation): the constants computed and split once (no product with their
        scale and no indexing of them per call), no module call."""
        return self._prepared(self.module.split_constants())

    def _prepared(self, constants: Tensor | Constants) -> Callable[[Sequence[Tensor]], Tensor]:
        """The (clipped) expression with ``constants`` as a function of the inputs [each
        shaped alike], broadcast to their shape (only when it leaves an input out: else its
        elementwise operations give that shape); prepared while a :class:`RangeExcess` is
        active, it tallies its excess over the declared range, while a :class:`ClipCount`
        is, it counts what it clips."""
        evaluate, declared = self.module.evaluate, self.output_range
        limits = declared if self.clip else self._input_limits
        tally = RangeExcess.active() if declared.bounded else None
        clips, counts = limits.bounded, ClipCount.active() is not None
        reuse = tally is not None and limits == declared  # the tally's clip is the output
        inside_of, clamp = declared.clamper(self.inputs), limits.clamper(self.inputs)
        used = {symbol.name for symbol in self.module.expression.free_symbols}
        reads_all = used >= set(self.inputs)

        def call(args: Sequence[Tensor]) -> Tensor:
            out = evaluate(args, constants, _NO_FUNCTIONS)  # the module's names are the inputs
            if not reads_all:
                shape = out.shape
                for arg in args:
                    if arg.shape != shape:  # a constant, or an input it does not use
                        shapes = (a.shape for a in args)
                        out = torch.broadcast_to(out, torch.broadcast_shapes(shape, *shapes))
                        break
            if tally is not None:
                inside = inside_of(out, args)
                tally.add(self, out, inside)
            if not clips:
                return out
            clipped = inside if reuse else clamp(out, args)
            if counts:  # a clip within the range's slack is no departure from it
                slack = RANGE_RTOL * clipped.abs().clamp(min=1.0)
                self.clip_counts[0] += ((clipped - out).abs() > slack).sum()
                self.clip_counts[1] += out.numel()
            return clipped

        return call

    def clipped_share(self) -> tuple[float, int]:
        """Share of the counted evaluations (:class:`ClipCount`) that were clipped into
        the range, and how many were counted (``(nan, 0)`` when none were)."""
        clipped, counted = (int(c) for c in self.clip_counts)
        return (clipped / counted if counted else math.nan), counted

    def expression(self, digits: int | None = 6) -> sympy.Expr:
        """The expression with the current constant values, e.g. for a report."""
        return self.module.current_expression(digits)

    def describe(self) -> str:
        return f"symbolic {self.expression(4)}"
