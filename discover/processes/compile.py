"""Compile sympy expressions to torch, with their numeric constants as trainable parameters."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import reduce

import sympy
import torch
from sympy.core.function import AppliedUndef
from torch import Tensor, nn

Node = Callable[[Sequence[Tensor], Tensor, Mapping[str, Callable[..., Tensor]]], Tensor]
"""A compiled node: ``node(values, constants, functions) -> Tensor``, ``values`` in the
order of the module's names."""

_UNARY: dict[type, Callable[[Tensor], Tensor]] = {
    sympy.exp: torch.exp,
    sympy.log: torch.log,
    sympy.sin: torch.sin,
    sympy.cos: torch.cos,
    sympy.tan: torch.tan,
    sympy.tanh: torch.tanh,
    sympy.sinh: torch.sinh,
    sympy.cosh: torch.cosh,
    sympy.Abs: torch.abs,
    sympy.sign: torch.sign,
}


class Constants(tuple):
    """An expression's constants as 0-dim tensors, with their dtype and device: what
    :meth:`ExpressionModule.evaluate` indexes without a tensor operation (a caller that
    evaluates thousands of times, e.g. an ODE solver, splits them once)."""

    dtype: torch.dtype
    device: torch.device

    def __new__(cls, constants: Tensor) -> Constants:
        split = super().__new__(cls, constants.unbind())
        split.dtype, split.device = constants.dtype, constants.device
        return split


class ExpressionModule(nn.Module):
    """A sympy expression as a torch module.

    Every ``sympy.Float`` in the expression becomes an entry of ``constants``; integers and
    rationals (e.g. the 2 in ``x**2``) stay fixed structure. What is trained is
    ``relative``: each constant as a multiple of its starting magnitude (``scale``, 1 for
    a constant starting at 0), so that an optimiser's step is the same share of a constant
    of 0.01 as of one of 100 (with Adam's step of about ``lr`` per iteration, a constant of
    0.01 trained directly at ``lr`` 0.02 would change sign in one step).
    Calls of undefined functions (``F(x, y)``) are looked up in ``functions`` at call
    time, which is how an ODE right-hand side calls its neural slots.

    Args:
        expression: the sympy expression.
        names: the symbols it may use; each must be given when calling.
        trainable: make the float constants trainable (else, or when there are none, they
            are a fixed buffer).
    """

    def __init__(self, expression: sympy.Expr, names: Sequence[str], trainable: bool = True):
        super().__init__()
        unknown = {s.name for s in expression.free_symbols} - set(names)
        if unknown:
            raise ValueError(f"expression {expression} uses undeclared symbol(s) {sorted(unknown)}")
        self.expression = expression
        self.names = tuple(names)
        self._positions = {name: i for i, name in enumerate(self.names)}
        self._values: list[float] = []
        self._root = self._compile(expression)
        values = torch.tensor(self._values, dtype=torch.float64)  # exact; 0-dim use keeps dtype
        scale = torch.where(values != 0, values.abs(), torch.ones_like(values))
        self.register_buffer("scale", scale)
        if trainable and len(self._values):
            self.relative = nn.Parameter(values / scale)
        else:
            self.register_buffer("relative", values / scale)

    @property
    def constants(self) -> Tensor:
        """The current constants [n_constants], in the order of the expression's floats."""
        return self.relative * self.scale

    def split_constants(self) -> Constants:
        """:attr:`constants` split once into 0-dim tensors, for many evaluations."""
        return Constants(self.constants)

    def forward(
        self,
        values: Mapping[str, Tensor],
        functions: Mapping[str, Callable[..., Tensor]] | None = None,
    ) -> Tensor:
        """Evaluate with ``values`` (name → tensor, broadcastable; each of :attr:`names`)
        and callable ``functions``."""
        ordered = [values[name] for name in self.names]
        out = self.evaluate(ordered, self.constants, functions or {})
        shape = torch.broadcast_shapes(out.shape, *(value.shape for value in values.values()))
        return out if out.shape == shape else torch.broadcast_to(out, shape)

    def evaluate(
        self,
        values: Sequence[Tensor],
        constants: Tensor | Constants,
        functions: Mapping[str, Callable[..., Tensor]],
    ) -> Tensor:
        """The expression at ``values`` (in the order of :attr:`names`) with ``constants``
        (:attr:`constants`, or :meth:`split_constants` taken once by a caller that
        evaluates many times, e.g. an ODE solver), not broadcast to the values' shape (a
        scalar for a constant expression)."""
        return self._root(values, constants, functions)

    def current_expression(self, digits: int | None = None) -> sympy.Expr:
        """The expression with the current (fitted) constant values substituted."""
        values = self.constants.detach().cpu().tolist()
        it = iter(values)
        return _replace_floats(self.expression, lambda _f: sympy.Float(next(it), digits or 15))

    # -- compilation -------------------------------------------------------------------
    def _constant(self, value: float) -> Node:
        index = len(self._values)
        self._values.append(float(value))
        return lambda v, c, f: c[index]

    def _compile(self, expr: sympy.Basic) -> Node:
        if isinstance(expr, sympy.Symbol):
            position = self._positions[expr.name]
            return lambda v, c, f: v[position]
        if isinstance(expr, sympy.Float):
            return self._constant(float(expr))
        if isinstance(expr, sympy.Number | sympy.NumberSymbol):
            return _fixed_number(float(expr))
        if isinstance(expr, sympy.Add):
            return self._compile_add(expr.args)
        if isinstance(expr, sympy.Mul):
            return _product([self._compile(a) for a in expr.args])
        if isinstance(expr, sympy.Pow):
            return self._compile_pow(expr)
        if isinstance(expr, sympy.Min | sympy.Max):
            combine = torch.minimum if isinstance(expr, sympy.Min) else torch.maximum
            return _combined(combine, [self._compile(a) for a in expr.args])
        if isinstance(expr, AppliedUndef):
            fname = expr.func.__name__
            parts = [self._compile(a) for a in expr.args]

            def call(v, c, f):
                if fname not in f:
                    raise KeyError(f"no function {fname!r} given to evaluate {self.expression}")
                return f[fname](*(p(v, c, f) for p in parts))

            return call
        if type(expr) in _UNARY and len(expr.args) == 1:
            op = _UNARY[type(expr)]
            inner = self._compile(expr.args[0])
            return lambda v, c, f: op(inner(v, c, f))
        raise ValueError(f"cannot compile {type(expr).__name__} in {self.expression}")

    def _compile_add(self, terms: tuple[sympy.Basic, ...]) -> Node:
        """A sum whose terms ``-1·rest`` are subtracted rather than multiplied by -1 and
        added: the same numbers bit for bit (IEEE negation is exact and ``a + (-b)`` is
        ``a - b``), one operation fewer each. The terms are evaluated in their order;
        when only the first one is negated, the second is the one subtracted from."""
        negated, parts = [], []
        for term in terms:
            minus = isinstance(term, sympy.Mul) and term.args[0] is sympy.S.NegativeOne
            factors = [self._compile(a) for a in (term.args[1:] if minus else [term])]
            negated.append(minus)
            parts.append(factors[0] if len(factors) == 1 else _product(factors))
        swap = negated[0] and not negated[1]  # -a + b as b - a

        def add(v, c, f):
            values = [p(v, c, f) for p in parts]
            if swap:
                total = torch.sub(values[1], values[0])
            else:
                total = torch.neg(values[0]) if negated[0] else values[0]
            for minus, value in zip(negated[1 + swap :], values[1 + swap :], strict=True):
                total = torch.sub(total, value) if minus else torch.add(total, value)
            return total

        return add

    def _compile_pow(self, expr: sympy.Pow) -> Node:
        base = self._compile(expr.base)
        exponent = expr.exp
        if exponent == sympy.Rational(1, 2):
            return lambda v, c, f: torch.sqrt(base(v, c, f))
        if exponent == -1:
            return lambda v, c, f: torch.reciprocal(base(v, c, f))
        if isinstance(exponent, sympy.Integer):
            power = int(exponent)
            return lambda v, c, f: torch.pow(base(v, c, f), power)
        exp = self._compile(exponent)
        return lambda v, c, f: torch.pow(base(v, c, f), exp(v, c, f))


def _product(parts: list[Node]) -> Node:
    """The product of the nodes, left to right."""
    if len(parts) == 2:  # the common cases without reduce's overhead
        first, second = parts
        return lambda v, c, f: torch.mul(first(v, c, f), second(v, c, f))
    if len(parts) == 3:
        first, second, third = parts
        return lambda v, c, f: torch.mul(torch.mul(first(v, c, f), second(v, c, f)), third(v, c, f))
    return lambda v, c, f: reduce(torch.mul, (p(v, c, f) for p in parts))


def _combined(combine: Callable[[Tensor, Tensor], Tensor], parts: list[Node]) -> Node:
    """``combine`` (``torch.minimum`` or ``torch.maximum``) of the nodes, left to right,
    broadcast by ``combine`` itself: a number (0-dim) then takes the values' dtype, as it
    does in a product, instead of a float64 number turning float32 values into float64
    (what broadcasting the parts to one shape first did, with one operation more)."""
    if len(parts) == 2:  # the common case without reduce's overhead
        first, second = parts
        return lambda v, c, f: combine(first(v, c, f), second(v, c, f))
    return lambda v, c, f: reduce(combine, (p(v, c, f) for p in parts))


def _fixed_number(value: float) -> Node:
    """A node giving ``value`` as a 0-dim tensor like the constants, made once per dtype
    and device (not at every evaluation: an ODE solver evaluates thousands of times)."""
    made: dict[tuple[torch.dtype, torch.device], Tensor] = {}

    def number(v, c, f):
        key = (c.dtype, c.device)
        if key not in made:
            with torch.inference_mode(False):  # usable with autograd when first made without
                made[key] = torch.tensor(value, dtype=c.dtype, device=c.device)
        return made[key]

    return number


def _replace_floats(expr: sympy.Basic, replace: Callable[[sympy.Float], sympy.Expr]) -> sympy.Expr:
    """Rebuild ``expr`` with each Float replaced, in the compiler's traversal order."""
    if isinstance(expr, sympy.Float):
        return replace(expr)
    if not expr.args or isinstance(expr, sympy.Number | sympy.Symbol | sympy.NumberSymbol):
        return expr
    if isinstance(expr, sympy.Pow) and expr.exp in (sympy.Rational(1, 2), -1):
        return expr.func(_replace_floats(expr.base, replace), expr.exp, evaluate=False)
    args = [_replace_floats(a, replace) for a in expr.args]
    return expr.func(*args, evaluate=False)
