"""Pareto fronts of symbolic candidates: complexity, selection rule and serialisation."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sympy

from discover.expressions import parse_expression

SELECTION_RULE = (
    "largest drop of log(loss) per unit of complexity against the next simpler candidate, "
    "among candidates whose loss is at most {tolerance:g} x the best loss"
)


def expression_complexity(expr: sympy.Expr) -> int:
    """Number of nodes of ``expr`` written as a binary tree of +, -, *, /, ^ and calls.

    Symbols and numbers count 1 and every operator or call 1, as written by hand:
    ``a - b`` and ``a/b`` are 3 nodes, ``-a`` and ``1/a`` are 2.
    """
    if not expr.args:
        return 1
    if isinstance(expr, sympy.Add):
        terms = [_negated(arg) for arg in expr.args]
        return _joined([expression_complexity(t) for t, _ in terms], all(n for _, n in terms))
    if isinstance(expr, sympy.Mul):
        if expr.args[0] == -1:
            return 1 + expression_complexity(sympy.Mul(*expr.args[1:]))
        factors = [_inverted(arg) for arg in expr.args]
        return _joined([expression_complexity(f) for f, _ in factors], all(i for _, i in factors))
    if isinstance(expr, sympy.Pow) and expr.exp == -1:
        return 1 + expression_complexity(expr.base)
    children = sum(expression_complexity(arg) for arg in expr.args)
    if isinstance(expr, sympy.Min | sympy.Max):
        return children + len(expr.args) - 1
    return children + 1


def _negated(term: sympy.Expr) -> tuple[sympy.Expr, bool]:
    """``(t, True)`` for a term ``-t`` (written with a minus sign), else ``(term, False)``."""
    if isinstance(term, sympy.Mul) and term.args[0] == -1:
        return sympy.Mul(*term.args[1:]), True
    return term, False


def _inverted(factor: sympy.Expr) -> tuple[sympy.Expr, bool]:
    """``(b, True)`` for a factor ``1/b`` (written as a division), else ``(factor, False)``."""
    if isinstance(factor, sympy.Pow) and factor.exp == -1:
        return factor.base, True
    return factor, False


def _joined(sizes: list[int], all_inverse: bool) -> int:
    """Nodes of operands joined by ``len(sizes) - 1`` binary operators (one more when
    every operand is negated or inverted: ``-a - b``, ``1/(a*b)``)."""
    return sum(sizes) + len(sizes) - 1 + (1 if all_inverse else 0)


@dataclass(frozen=True)
class Candidate:
    """One equation on a front.

    Attributes:
        expression: sympy expression in the slot's input names (real symbols).
        complexity: :func:`expression_complexity` of the expression.
        loss: mean squared error on the fitted samples, in squared output units.
        engine: the engine that proposed it.
    """

    expression: sympy.Expr
    complexity: int
    loss: float
    engine: str = ""

    def text(self) -> str:
        """The expression as a string that ``sympy.sympify`` reads back (short floats)."""
        return sympy.sstr(self.expression, full_prec=False)

    def to_dict(self) -> dict[str, Any]:
        """``{"expression": str, "complexity": int, "loss": float}``."""
        return {
            "expression": self.text(),
            "complexity": int(self.complexity),
            "loss": float(self.loss),
        }

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], names: Sequence[str], engine: str = ""
    ) -> Candidate:
        """Read :meth:`to_dict` output; the expression is parsed safely over ``names``."""
        try:
            text, complexity, loss = data["expression"], data["complexity"], data["loss"]
        except KeyError as err:
            raise KeyError(f"candidate entry lacks key {err.args[0]!r}: {dict(data)}") from None
        return cls(parse_expression(text, names), int(complexity), float(loss), engine)


def pareto_filter(candidates: Iterable[Candidate]) -> list[Candidate]:
    """Keep the non-dominated candidates, by rising complexity and strictly falling loss.

    Candidates with a non-finite loss are dropped; among equal complexity the lowest
    loss wins (the first one given on ties).
    """
    best: dict[int, Candidate] = {}
    for cand in candidates:
        if not math.isfinite(cand.loss):
            continue
        kept = best.get(cand.complexity)
        if kept is None or cand.loss < kept.loss:
            best[cand.complexity] = cand
    front: list[Candidate] = []
    for complexity in sorted(best):
        cand = best[complexity]
        if not front or cand.loss < front[-1].loss:
            front.append(cand)
    return front


def select_candidate(front: Sequence[Candidate], tolerance: float = 1.5) -> int:
    """Index of the selected candidate of a Pareto-filtered ``front`` (see SELECTION_RULE).

    The score of candidate i is ``-(log loss_i - log loss_{i-1}) / (c_i - c_{i-1})``;
    the simplest candidate scores 0 and wins only when it is the sole one eligible.
    """
    if not front:
        raise ValueError("cannot select from an empty Pareto front")
    floor = 1e-300
    best_loss = min(c.loss for c in front)
    best_index, best_score = -1, -math.inf
    for i, cand in enumerate(front):
        if cand.loss > tolerance * max(best_loss, floor):
            continue
        if i == 0:
            score = 0.0
        else:
            prev = front[i - 1]
            drop = math.log(max(prev.loss, floor)) - math.log(max(cand.loss, floor))
            score = drop / max(cand.complexity - prev.complexity, 1)
        if score > best_score:
            best_index, best_score = i, score
    return best_index


@dataclass
class ParetoFront:
    """Candidates of rising complexity for one slot, with the selected one.

    Iterating yields the candidates by rising complexity; ``selected`` is the chosen one.

    Attributes:
        candidates: the Pareto-optimal candidates, simplest first.
        inputs: the slot's input names (the symbols expressions may use).
        engine: name of the engine that actually ran.
        selected_index: index of ``selected`` in ``candidates``.
        metadata: free-form facts (requested engine, fallback reason, timings, rule).
    """

    candidates: list[Candidate]
    inputs: tuple[str, ...]
    engine: str
    selected_index: int
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.candidates:
            raise ValueError("a Pareto front needs at least one candidate")
        if not 0 <= self.selected_index < len(self.candidates):
            raise IndexError(
                f"selected_index {self.selected_index} outside 0..{len(self.candidates) - 1}"
            )
        self.inputs = tuple(self.inputs)

    @classmethod
    def build(
        cls,
        candidates: Iterable[Candidate],
        inputs: Sequence[str],
        engine: str,
        tolerance: float = 1.5,
        metadata: Mapping[str, Any] | None = None,
    ) -> ParetoFront:
        """Pareto-filter ``candidates`` and select one by :func:`select_candidate`.

        The next non-dominated layer (the Pareto front of the candidates whose expression
        is not on the front) goes into the metadata as ``near_front`` (``to_dict`` entries):
        a form the network's samples rank just behind the front (``0.86*x*y`` behind
        ``x*y**0.88``) may still be the one the data prefer, and a selection rule may
        score it (:mod:`discover.stages.select`).
        """
        candidates = list(candidates)
        front = pareto_filter(candidates)
        if not front:
            raise ValueError(f"engine {engine!r} returned no candidate with a finite loss")
        meta = {"selection_rule": SELECTION_RULE.format(tolerance=tolerance), **(metadata or {})}
        on_front = {sympy.srepr(c.expression) for c in front}
        near = pareto_filter(c for c in candidates if sympy.srepr(c.expression) not in on_front)
        if near:
            meta["near_front"] = [c.to_dict() for c in near]
        return cls(front, tuple(inputs), engine, select_candidate(front, tolerance), meta)

    @property
    def selected(self) -> Candidate:
        return self.candidates[self.selected_index]

    def __iter__(self) -> Iterator[Candidate]:
        return iter(self.candidates)

    def __len__(self) -> int:
        return len(self.candidates)

    def __getitem__(self, index: int) -> Candidate:
        return self.candidates[index]

    def to_dict(self) -> dict[str, Any]:
        """The equations.json entry of one slot (see docs/run_directory.md)."""
        return {
            "inputs": list(self.inputs),
            "selected": self.selected.to_dict(),
            "pareto": [c.to_dict() for c in self.candidates],
            "engine": self.engine,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ParetoFront:
        """Rebuild a front from :meth:`to_dict` output (expressions parsed safely)."""
        for key in ("inputs", "selected", "pareto", "engine"):
            if key not in data:
                raise KeyError(f"equations entry lacks key {key!r}")
        names = [str(n) for n in data["inputs"]]
        engine = str(data["engine"])
        candidates = [Candidate.from_dict(entry, names, engine) for entry in data["pareto"]]
        selected = Candidate.from_dict(data["selected"], names, engine)
        matches = [
            i
            for i, c in enumerate(candidates)
            if c.complexity == selected.complexity and c.expression == selected.expression
        ]
        if not matches:
            raise ValueError(f"selected expression {selected.expression} is not on the front")
        return cls(candidates, tuple(names), engine, matches[0])

    def __str__(self) -> str:
        header = f"Pareto front over ({', '.join(self.inputs)}), engine {self.engine}"
        lines = [header, f"  {'':1} {'complexity':>10} {'loss':>12}  expression"]
        for i, cand in enumerate(self.candidates):
            mark = "*" if i == self.selected_index else " "
            lines.append(f"  {mark} {cand.complexity:>10d} {cand.loss:>12.4g}  {cand.text()}")
        lines.append("  (* selected)")
        return "\n".join(lines)


def in_play(front: ParetoFront) -> list[Candidate]:
    """The candidates a selection rule scores: the front's, then the near-front ones its
    metadata keep (``near_front``, see :meth:`ParetoFront.build`; an entry's ``engine``,
    when it names one, is the engine that proposed it, else the front's)."""
    near = front.metadata.get("near_front", [])
    return [
        *front,
        *(Candidate.from_dict(e, front.inputs, e.get("engine", front.engine)) for e in near),
    ]
