"""Symbolic process: a closed-form expression whose constants stay trainable."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import sympy
import torch
from torch import Tensor

from discover.expressions import parse_expression
from discover.processes.base import OutputRange, Process
from discover.processes.compile import Constants, ExpressionModule

_NO_FUNCTIONS: Mapping[str, Callable[..., Tensor]] = {}
"""A symbolic process's expression calls no functions."""


class Symbolic(Process):
    """A sympy expression over named inputs, compiled to torch.

    Numeric constants (floats) in the expression are trainable; named free constants
    (``parameters``, e.g. ``{"b": 0.5}`` for ``pet * soil_wetness**b``) are trainable
    too, starting from the given values.

    Ends of ``output_range`` that an input sets (``0 <= out <= pet``) are always enforced
    by clipping, since only the slot knows them; constant ends only with ``clip`` (a model
    may enforce those itself, as HBV clips outflows at 0). An input that sets an end is
    added to ``inputs`` when the expression's inputs lack it. In evaluations made without
    gradients (the simulations that score and report a model, not training steps) the
    clipped share is counted: :meth:`clipped_share`. :attr:`module` is the unclipped
    equation.

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
        # evaluations without gradients: [clipped, all]; not saved with the model
        self.register_buffer("clip_counts", torch.zeros(2, dtype=torch.long), persistent=False)

    def evaluate(self, args: Sequence[Tensor]) -> Tensor:
        return self._prepared(self.module.constants)(args)

    def function(self, dtype: torch.dtype) -> Callable[[Sequence[Tensor]], Tensor]:
        """:meth:`evaluate` for many calls while the constants do not change (e.g. one
        ODE simulation): the constants computed and split once (no product with their
        scale and no indexing of them per call), no module call."""
        return self._prepared(self.module.split_constants())

    def _prepared(self, constants: Tensor | Constants) -> Callable[[Sequence[Tensor]], Tensor]:
        """The (clipped) expression with ``constants`` as a function of the inputs [each
        shaped alike], broadcast to their shape."""
        evaluate, inputs = self.module.evaluate, self.inputs
        limits = self.output_range if self.clip else self._input_limits
        clamp = self._clamp if limits.bounded else None

        def call(args: Sequence[Tensor]) -> Tensor:
            out = evaluate(args, constants, _NO_FUNCTIONS)  # the module's names are the inputs
            shape = out.shape
            for arg in args:
                if arg.shape != shape:  # a constant, or an input it does not use
                    shapes = (a.shape for a in args)
                    out = torch.broadcast_to(out, torch.broadcast_shapes(shape, *shapes))
                    break
            if clamp is None:
                return out
            return clamp(limits, out, dict(zip(inputs, args, strict=True)))

        return call

    def _clamp(self, limits: OutputRange, out: Tensor, values: Mapping[str, Tensor]) -> Tensor:
        """``out`` clipped into ``limits``, counted in evaluations without gradients."""
        clipped = limits.clamp(out, values)
        if not torch.is_grad_enabled():
            self.clip_counts[0] += ((clipped - out).abs() > 0).sum()
            self.clip_counts[1] += out.numel()
        return clipped

    def clipped_share(self) -> tuple[float, int]:
        """Share of the counted evaluations that were clipped into the range, and how
        many were counted (``(nan, 0)`` when none were)."""
        clipped, counted = (int(c) for c in self.clip_counts)
        return (clipped / counted if counted else math.nan), counted

    def expression(self, digits: int | None = 6) -> sympy.Expr:
        """The expression with the current constant values, e.g. for a report."""
        return self.module.current_expression(digits)

    def describe(self) -> str:
        return f"symbolic {self.expression(4)}"
