"""Probe a trained hybrid model: what each neural slot saw and returned over the data."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np
import torch

from discover.distill.sampling import thin
from discover.models.base import HybridModel


class ProbeSamples(NamedTuple):
    """One slot's probed samples: inputs ``X`` ``[samples, len(names)]``, outputs ``y``
    ``[samples]`` (in the slot's units) and the input ``names``."""

    X: np.ndarray
    y: np.ndarray
    names: tuple[str, ...]


def probe(
    model: HybridModel,
    run: Callable[[], object],
    slots: Sequence[str] | None = None,
    size: int | None = None,
    seed: int = 0,
) -> dict[str, ProbeSamples]:
    """Run the model once and record each neural slot's inputs and outputs.

    Args:
        model: the trained model.
        run: zero-argument callable that runs ``model`` over the data (its result is
            ignored); it runs under ``torch.no_grad()``.
        slots: slots to probe (default: every neural slot).
        size: thin each slot's samples to this many with :func:`thin` (default: keep all).
        seed: seed of the thinning.

    Returns:
        Slot name → :class:`ProbeSamples`; samples with non-finite values are dropped.
    """
    names = list(slots) if slots is not None else model.neural_slots()
    unknown = [s for s in names if s not in model.slots]
    if unknown:
        raise KeyError(f"no slot(s) {unknown} in the model; it has {sorted(model.slots)}")
    for name in names:
        model.slots[name].start_recording()
    recorded = {}
    try:
        with torch.no_grad():
            run()
    finally:
        for name in names:
            recorded[name] = model.slots[name].stop_recording()
    result = {}
    for name in names:
        inputs, outputs = recorded[name]
        X = inputs.double().numpy()
        y = outputs.double().numpy()
        finite = np.all(np.isfinite(X), axis=1) & np.isfinite(y)
        X, y = X[finite], y[finite]
        if len(y) == 0:
            raise RuntimeError(f"slot {name!r} recorded no finite samples; did run() call it?")
        if size is not None:
            keep = thin(X, y, size, seed)
            X, y = X[keep], y[keep]
        result[name] = ProbeSamples(X, y, tuple(model.slots[name].inputs))
    return result
