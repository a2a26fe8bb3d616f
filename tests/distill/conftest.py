"""Fixtures of the distillation tests."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pytest
import sympy

from discover.distill.engines import ENGINES, SearchOptions
from discover.stages import in_model


class FixedCandidates:
    """An engine that returns the same raw expressions whatever the data."""

    def __init__(self, expressions: Sequence[sympy.Expr]):
        self.expressions = list(expressions)

    def available(self) -> tuple[bool, str]:
        return True, ""

    def search(
        self, X: np.ndarray, y: np.ndarray, names: Sequence[str], options: SearchOptions
    ) -> list[sympy.Expr]:
        return list(self.expressions)


@pytest.fixture
def fixed_engine(monkeypatch: pytest.MonkeyPatch) -> Callable[[Sequence[sympy.Expr]], str]:
    """``fixed_engine(expressions)`` registers, for this test, an engine that proposes
    ``expressions`` whatever the data (:class:`FixedCandidates`) and returns its name."""

    def register(expressions: Sequence[sympy.Expr]) -> str:
        monkeypatch.setitem(ENGINES, "fixed", lambda: FixedCandidates(expressions))
        return "fixed"

    return register


@pytest.fixture
def refits(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The steps of every refit (``refitted_loss`` with steps > 0) made in the model during
    this test, in order: a list that fills as the test runs."""
    steps: list[int] = []
    original = in_model.refitted_loss

    def counting(workflow, parameters, n, loss=None):
        if n > 0:
            steps.append(n)
        return original(workflow, parameters, n, loss)

    monkeypatch.setattr(in_model, "refitted_loss", counting)
    return steps
