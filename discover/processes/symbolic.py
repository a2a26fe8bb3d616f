"""Symbolic process: a closed-form expression whose constants stay trainable."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import sympy
import torch
from torch import Tensor

from discover.expressions import parse_expression
from discover.processes.base import OutputRange, Process
from discover.processes.compile import ExpressionModule


class Symbolic(Process):
    """A sympy expression over named inputs, compiled to torch.

    Numeric constants (floats) in the expression are trainable; named free constants
    (``parameters``, e.g. ``{"b": 0.5}`` for ``pet * soil_wetness**b``) are trainable
    too, starting from the given values.

    Args:
        expression: a sympy expression or an equation string (parsed safely).
        inputs: names of the inputs the expression may use.
        parameters: named free constants and their initial values.
        output_range: declared range; the output is clipped into it when ``clip``.
        clip: clip the output into ``output_range`` (keeps a refitted equation physical).
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

    def evaluate(self, args: Sequence[Tensor]) -> Tensor:
        out = self.module(dict(zip(self.inputs, args, strict=True)))
        if self.clip and self.output_range.bounded:
            out = torch.clamp(out, self.output_range.low, self.output_range.high)
        return out

    def expression(self, digits: int | None = 6) -> sympy.Expr:
        """The expression with the current constant values, e.g. for a report."""
        return self.module.current_expression(digits)

    def describe(self) -> str:
        return f"symbolic {self.expression(4)}"
