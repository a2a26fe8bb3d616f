"""Fixtures of the distillation tests."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pytest
import sympy

from discover.distill.engines import ENGINES, SearchOptions


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
