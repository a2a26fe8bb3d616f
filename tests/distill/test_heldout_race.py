"""The ``heldout`` rule's refits are raced (:func:`~discover.stages.select_heldout.raced`):
a candidate whose errors on one fold put it above the eligible band even with its errors
on the other fold at the refit's tolerance is not refitted on the other fold, and the
choice is the one every candidate scored on both folds gives."""

import numpy as np
import sympy

from discover.distill import Candidate
from discover.stages.select_heldout import _held_out_choice, raced
from tests.core.test_selection_heldout import _planted, _select

X = sympy.Symbol("x", real=True)
UNITS = np.arange(10) % 2  # ten time blocks of one site, alternately in two folds


def _candidates(n: int) -> list[Candidate]:
    """``n`` candidates with 1 to 3 constants, complexities rising."""
    forms = ["0.5*x**2", "0.5*x**2 + 0.1*x", "0.5*x**2 + 0.1*x + 0.2"]
    return [Candidate(sympy.sympify(forms[i % 3], locals={"x": X}), 3 + i, 0.0) for i in range(n)]


def _race(full: np.ndarray):
    """``raced`` over candidates whose errors on every unit are ``full`` ``[candidate,
    unit]``; returns its table, which rows it scored on both folds, and the calls it made
    ``[(fold, candidate indices)]``."""
    candidates = _candidates(len(full))
    calls: list[tuple[int, list[int]]] = []

    def errors(chosen: list[Candidate], fold: int) -> np.ndarray:
        rows = [candidates.index(c) for c in chosen]
        calls.append((fold, rows))
        return np.where(UNITS == fold, full[rows], np.nan)

    table, done = raced(candidates, errors, UNITS)
    return candidates, table, done, calls


def test_a_candidate_beyond_reach_is_not_refitted_on_the_other_fold():
    spread = np.linspace(0.8, 1.2, UNITS.size)
    full = np.array([1e-6, 2e-6, 1e-1, np.inf])[:, None] * spread  # the last one fails
    candidates, table, done, calls = _race(full)
    assert calls[0] == (0, [0, 1, 2, 3])
    assert sorted(i for fold, rows in calls[1:] for i in rows if fold == 1) == [0, 1]
    assert done.tolist() == [True, True, False, True]
    assert np.isnan(table[2, UNITS == 1]).all() and np.allclose(table[:2], full[:2])
    assert _held_out_choice(candidates, table).selected == 0


def test_the_raced_choice_is_the_one_of_every_candidate_on_both_folds():
    rng = np.random.default_rng(0)
    left_out = 0
    for _ in range(200):
        n = int(rng.integers(2, 12))
        # errors over many orders of magnitude, some under the tolerance, folds differing
        level = 10.0 ** rng.uniform(-12, 0, size=(n, 1))
        full = level * 10.0 ** rng.normal(0, rng.uniform(0.1, 2), size=(n, UNITS.size))
        full[rng.random(n) < 0.1] = np.inf
        candidates, table, done, _ = _race(full)
        raced_choice = _held_out_choice(candidates, table)
        choice = _held_out_choice(candidates, full)
        assert raced_choice.selected == choice.selected and raced_choice.best == choice.best
        assert np.isclose(raced_choice.margin, choice.margin)
        left_out += int((~done).sum())
    assert left_out > 100  # the race does leave candidates out


def test_the_rule_marks_a_form_scored_on_one_fold(refits):
    law, constant = "0.5*x**2", "2.0"
    x, y = _planted(0, smooth=0.001)  # the law's errors far below the constant's
    front = _select("heldout", x, y, [constant, law])
    rows = {row["expression"]: row for row in front.metadata["held_out"]}
    assert front.selected.text() == law
    assert rows[constant].get("one_fold") and "one_fold" not in rows[law]
    assert rows[constant]["score"] > rows[law]["score"]
    # both forms on fold 0, the law alone on fold 1, then the law once on all the training
    # data for its snapped form; unraced, the constant would be refitted on fold 1 too
    assert len(refits) == 2 + 1 + 1
