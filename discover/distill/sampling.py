"""Thin probed samples to a requested size while keeping their whole range covered."""

from __future__ import annotations

import numpy as np


def thin(X: np.ndarray, y: np.ndarray | None, size: int, seed: int = 0) -> np.ndarray:
    """Indices of at most ``size`` samples spread over the range of the data.

    The columns of ``X`` (and ``y`` when given) are scaled to [0, 1] and cut into a grid
    of about ``size`` cells; samples are then taken in rounds, one per occupied cell per
    round (in a seeded random order), so sparse edges of the domain are kept as well as
    the dense middle.

    Args:
        X: inputs ``[samples, inputs]``.
        y: outputs ``[samples]`` (also covered), or ``None``.
        size: number of samples wanted.
        seed: seed of the random choice within cells.

    Returns:
        Sorted indices ``[min(size, samples)]`` into the samples.
    """
    X = np.asarray(X, dtype=float)
    if X.ndim != 2:
        raise ValueError(f"X must have shape [samples, inputs], got {X.shape}")
    if size < 1:
        raise ValueError(f"size must be at least 1, got {size}")
    n = len(X)
    if n <= size:
        return np.arange(n)
    features = X if y is None else np.column_stack([X, np.asarray(y, dtype=float).reshape(-1)])
    low, high = np.min(features, axis=0), np.max(features, axis=0)
    span = np.where(high > low, high - low, 1.0)
    bins = max(2, int(round(size ** (1.0 / features.shape[1]))))
    cells = np.minimum(((features - low) / span * bins).astype(np.int64), bins - 1)
    _, cell_of = np.unique(cells, axis=0, return_inverse=True)
    cell_of = cell_of.reshape(-1)
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    # rank of each sample within its cell, in the shuffled order
    by_cell = order[np.argsort(cell_of[order], kind="stable")]
    sorted_cells = cell_of[by_cell]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_cells)) + 1]
    counts = np.diff(np.r_[starts, n])
    rank = np.empty(n, dtype=np.int64)
    rank[by_cell] = np.arange(n) - np.repeat(starts, counts)
    tiebreak = rng.random(n)
    chosen = np.lexsort((tiebreak, rank))[:size]
    return np.sort(chosen)
