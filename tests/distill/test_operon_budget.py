"""Operon's default budget is its work (generations), the time budget only a ceiling."""

import dataclasses
import time

import numpy as np
import sympy

from discover.distill.engines import SearchOptions, get_engine
from discover.distill.engines.operon import DEFAULT_GENERATIONS


def test_operon_search_ends_by_its_generations_and_repeats_exactly():
    """With a generous time budget, a default search finds what one told to run
    :data:`DEFAULT_GENERATIONS` generations finds (the same expressions: the generations
    ended it, not the clock), long before the budget."""
    rng = np.random.default_rng(1)
    X = rng.uniform(0.5, 4, (100, 1))
    y = np.minimum(X[:, 0], 2.0) * 1.5 + 0.3
    budget = 300.0
    small = (("population_size", 50),)
    options = SearchOptions(budget, 3, ("add", "mul", "min", "max"), extra=small)
    told = dataclasses.replace(options, extra=(*small, ("generations", DEFAULT_GENERATIONS)))
    engine = get_engine("operon")
    started = time.monotonic()
    found = engine.search(X, y, ["x"], options)
    seconds = time.monotonic() - started
    assert seconds < budget / 2
    same = engine.search(X, y, ["x"], told)
    assert [sympy.srepr(e) for e in found] == [sympy.srepr(e) for e in same]
