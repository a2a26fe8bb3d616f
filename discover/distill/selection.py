"""Rules that choose a front candidate from its errors on data, applied by the selection
rules of :mod:`discover.stages.select`:

- by retraining (``retrain``): a shortlist of candidates, each put into a model trained
  from scratch, scored on the validation split; the least complex one that is not
  significantly worse than the best one is selected (:func:`parsimonious_choice`);
- by held-out error (``heldout``): each candidate refitted on alternate time blocks and
  scored on the others; the least complex one within one standard error of the best one
  is selected (:func:`one_standard_error_choice`).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from discover.distill.pareto import ParetoFront

TIME_BLOCKS = 10
"""Consecutive time blocks the validation period is cut into when there is one site (the
blocks are units of the paired test; neighbouring blocks are not fully independent, so its
p-values are then indicative)."""

SHORTLIST_RULE = (
    "the {size} simplest front candidates whose mean squared error against the learned "
    "function is at most {tolerance:g} x its variance over the probed samples "
    "(R² against the network ≥ {r2:g}; the most accurate one when none is)"
)

RETRAIN_RULE = (
    "shortlist: {shortlist}; each put in place of the network, the model trained from scratch "
    "with the train settings and scored on the validation split (normalised squared error "
    "1 − NSE per {unit}); selected: the least complex candidate not significantly worse "
    "than the best one (one-sided Wilcoxon signed-rank test over {units}, alpha {alpha:g})"
)


def shortlist(front: ParetoFront, spread: float, tolerance: float, size: int) -> list[int]:
    """Indices into ``front`` of the ``size`` simplest candidates whose loss against the
    learned function is at most ``tolerance * spread`` (see :data:`SHORTLIST_RULE`).

    Args:
        front: the Pareto front (candidates by rising complexity, ``loss`` their mean
            squared error against the network on the probed samples).
        spread: variance of the network's output over those samples (squared output units).
        tolerance: the share of that variance a shortlisted candidate may leave unexplained.
        size: the most candidates to return (at least 1).
    """
    if size < 1:
        raise ValueError(f"size must be at least 1, got {size}")
    adequate = [i for i, c in enumerate(front) if c.loss <= tolerance * spread]
    if not adequate:
        adequate = [int(np.argmin([c.loss for c in front]))]
    return adequate[:size]


def validation_errors(simulated: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """Normalised squared error of a simulation: one value per site when there are
    several sites, else per consecutive time block (:data:`TIME_BLOCKS`).

    Args:
        simulated, observed: the validation period ``[time, site, variable]``; missing
            observations are NaN and skipped.

    Returns:
        ``[unit]``: the mean over variables of ``mse / variance of the observations``
        (the variance over the whole validation period of that site and variable); NaN
        where a unit has no valid observation, inf where the simulation is not finite at
        a valid observation.
    """
    if observed.ndim == 3 and observed.shape[1] > 1:
        return block_errors(simulated, observed, [np.arange(observed.shape[0])])[0]
    return block_errors(simulated, observed, time_blocks(observed.shape[0]))[:, 0]


def time_blocks(n_times: int, count: int = TIME_BLOCKS) -> list[np.ndarray]:
    """``count`` consecutive blocks of time indices ``0..n_times-1`` (fewer when there are
    fewer times), as equal in length as they can be."""
    if n_times < 1:
        raise ValueError(f"need at least one time step, got {n_times}")
    return np.array_split(np.arange(n_times), min(count, n_times))


def block_errors(
    simulated: np.ndarray, observed: np.ndarray, blocks: Sequence[np.ndarray]
) -> np.ndarray:
    """Normalised squared error of a simulation per time block and site.

    Args:
        simulated, observed: ``[time, site, variable]``; missing observations are NaN.
        blocks: time indices of each block.

    Returns:
        ``[block, site]``: the mean over variables of ``mse / variance of the
        observations`` (variance over all times of that site and variable); NaN where a
        block has no valid observation of a site, inf where the simulation is not finite
        at a valid observation.
    """
    if simulated.shape != observed.shape or simulated.ndim != 3:
        raise ValueError(
            f"simulated and observed must be [time, site, variable] of one shape; got "
            f"{simulated.shape} and {observed.shape}"
        )
    valid = np.isfinite(observed)
    with warnings.catch_warnings():  # a series without observations has no variance
        warnings.simplefilter("ignore", RuntimeWarning)
        variance = np.nanvar(np.where(valid, observed, np.nan), axis=0)  # [site, variable]
    variance = np.where(variance > 0, variance, np.nan)
    with np.errstate(invalid="ignore", over="ignore"):
        squared = np.where(valid, (simulated - np.where(valid, observed, 0.0)) ** 2, 0.0)
    squared = np.where(valid & ~np.isfinite(simulated), np.inf, squared)
    sums = np.stack([squared[b].sum(axis=0) for b in blocks])  # [block, site, variable]
    counts = np.stack([valid[b].sum(axis=0) for b in blocks])
    return _mean_over_variables(sums, counts, variance)


def _mean_over_variables(sums: np.ndarray, counts: np.ndarray, variance: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        scaled = np.where(counts > 0, sums / np.maximum(counts, 1) / variance, np.nan)
    defined = np.isfinite(scaled) | np.isposinf(scaled)
    with np.errstate(invalid="ignore"):
        total = np.where(defined, scaled, 0.0).sum(axis=-1)
    n = defined.sum(axis=-1)
    return np.where(n > 0, total / np.maximum(n, 1), np.nan)


@dataclass(frozen=True)
class RetrainChoice:
    """Outcome of :func:`parsimonious_choice`.

    Attributes:
        selected: index (into the candidates given) of the chosen one.
        best: index of the candidate with the lowest mean validation error.
        errors: mean validation error per candidate (inf for a failed one).
        p_worse: one-sided p-value that each candidate is worse than the best one
            (NaN for the best one itself).
    """

    selected: int
    best: int
    errors: list[float]
    p_worse: list[float]


def parsimonious_choice(
    complexities: Sequence[int], errors: np.ndarray, alpha: float = 0.05
) -> RetrainChoice:
    """The least complex candidate that is not significantly worse than the best one.

    Args:
        complexities: ``[candidate]`` complexity of each candidate.
        errors: ``[candidate, unit]`` validation error per unit of the paired test (lower
            is better, inf for a candidate whose model failed, NaN where undefined).
        alpha: level of the one-sided Wilcoxon signed-rank test of ``error − best error``
            over the units where both are finite (zero differences dropped).

    Raises:
        ValueError: shapes disagree, or no candidate has a finite error.
    """
    errors, failed = _checked_errors(errors, len(complexities), "validation")
    means = np.full(len(complexities), np.inf)
    for i in np.flatnonzero(~failed):
        means[i] = np.nanmean(errors[i])
    best = min(range(len(means)), key=lambda i: (means[i], complexities[i]))
    p_worse = [
        _p_worse(errors[i], errors[best], failed[i]) if i != best else np.nan
        for i in range(len(means))
    ]
    eligible = [i for i in range(len(means)) if i == best or p_worse[i] >= alpha]
    selected = min(eligible, key=lambda i: (complexities[i], means[i]))
    return RetrainChoice(selected, best, [float(m) for m in means], [float(p) for p in p_worse])


def _checked_errors(
    errors: np.ndarray, candidates: int, kind: str
) -> tuple[np.ndarray, np.ndarray]:
    """``errors`` ``[candidate, unit]`` as floats, and which candidates failed ``[candidate]``
    (an inf error, or no finite one).

    Raises:
        ValueError: ``errors`` is not ``[candidate, unit]`` with ``candidates`` rows, or no
            candidate has a finite (``kind``) error.
    """
    errors = np.asarray(errors, dtype=float)
    if errors.ndim != 2 or errors.shape[0] != candidates:
        raise ValueError(
            f"errors must be [candidate, unit] with {candidates} candidates; "
            f"got shape {errors.shape}"
        )
    failed = np.isposinf(errors).any(axis=1) | ~np.isfinite(errors).any(axis=1)
    if failed.all():
        raise ValueError(f"no candidate has a finite {kind} error")
    return errors, failed


def _p_worse(errors: np.ndarray, best: np.ndarray, failed: bool) -> float:
    """One-sided p-value of ``errors`` being larger than ``best`` (paired over units)."""
    if failed:
        return 0.0
    keep = np.isfinite(errors) & np.isfinite(best)
    difference = errors[keep] - best[keep]
    if not difference.any():
        return 1.0
    return float(stats.wilcoxon(difference, alternative="greater").pvalue)


HELD_OUT_RULE = (
    "blocked two-fold cross-validation: the training period cut into {blocks} consecutive "
    "time blocks, alternately in two folds; each form of the front (of its twins with other "
    "constants, the one with the lowest training loss before any refit), put into the model, "
    "refitted ({refit}, {steps} L-BFGS steps; with multiple shooting, a segment that starts "
    "where the fold does not observe starts on the candidate's own trajectory) on one fold "
    "and scored on the other "
    "(mse / variance per block and site, errors below the refit's tolerance {resolution:g} "
    "counted as it); selected: among the candidates whose mean log held-out error is "
    "within one standard error of the lowest one's, widened by what the refit resolves "
    "(errors that differ by less than its tolerance are not told apart), the one with the "
    "fewest constants estimated from data (then the lowest error); the choice's float "
    "exponents that its refit in the model brings near integers are scored as integers too; "
    "a form whose errors on one fold put it above that band even with its errors on the "
    "other fold at the tolerance is not refitted on the other fold (one_fold)"
)


@dataclass(frozen=True)
class HeldOutChoice:
    """Outcome of :func:`one_standard_error_choice`.

    Attributes:
        selected: index (into the candidates given) of the chosen one.
        best: index of the candidate with the lowest score.
        scores: mean log held-out error per candidate (inf for a failed one).
        margin: the tolerance on the score: the best candidate's standard error plus
            ``unresolved``.
        unresolved: the part of ``margin`` the refit does not resolve (mean over the best
            candidate's units of ``ln(1 + resolution / error)``; 0 without a resolution).
    """

    selected: int
    best: int
    scores: list[float]
    margin: float
    unresolved: float = 0.0


def one_standard_error_choice(
    constants: Sequence[int],
    complexities: Sequence[int],
    errors: np.ndarray,
    resolution: float = 0.0,
) -> HeldOutChoice:
    """The most parsimonious candidate whose held-out error is within one standard error of
    the lowest one (the one-standard-error rule of cross-validation), on the log scale,
    the standard error widened by the resolution of the refit that produced the errors.

    Parsimony is first the number of constants estimated from data (the degrees of freedom
    a candidate can spend on the noise, as ``k`` in BIC): among eligible candidates with
    the fewest, the lowest score wins, then the lowest complexity (``0.8*x*y`` over
    ``0.25*y`` when it predicts the held-out blocks better; expression size alone is no
    reason to prefer a worse fit with as many constants).

    A candidate's score is the mean of ``ln(error)`` over the units. Differences smaller
    than the precision with which the data measure the best error (its standard error:
    spread of its log errors over units / sqrt(units)) do not make a more complex candidate
    preferable; on the log scale a unit with a large error does not drown the others, and
    noise-free data (errors spread over orders of magnitude between units) resolve only
    large ratios.

    The errors are known only to ``resolution``: the refit that produced them stops where
    its loss changes by less (:data:`~discover.stages.in_model.REFIT_TOLERANCE`), so which
    of two candidates it left a little lower is no evidence. Errors below it count as it,
    and two errors that differ by less than it are not told apart: on the log scale, a
    unit's error ``e`` of the best candidate leaves ``ln(1 + resolution / e)`` unresolved,
    and the mean of that over the units widens the margin (the blocks' spread does not
    measure it: one refit per fold sets the errors of all of its blocks). ODEBench system
    2: a law at 1.7e-9, a power form at 1.3e-9 (0.26 apart; standard error 0.20, unresolved
    0.60): the law wins. Errors far above the resolution (noisy data) leave nothing.

    Args:
        constants: ``[candidate]`` constants estimated from data of each candidate.
        complexities: ``[candidate]`` complexity of each candidate.
        errors: ``[candidate, unit]`` held-out error per unit (positive; inf for a
            candidate whose model failed, NaN where undefined).
        resolution: the smallest difference between errors told apart (0: every
            difference counts).

    Raises:
        ValueError: shapes disagree, or no candidate has a finite error.
    """
    if len(constants) != len(complexities):
        raise ValueError(f"{len(constants)} constants counts for {len(complexities)} candidates")
    errors, failed = _checked_errors(errors, len(complexities), "held-out")
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.log(np.maximum(errors, max(resolution, np.finfo(float).tiny)))
    scores = np.full(len(complexities), np.inf)
    for i in np.flatnonzero(~failed):
        scores[i] = np.nanmean(logs[i])
    best = min(range(len(scores)), key=lambda i: (scores[i], complexities[i]))
    units = logs[best][np.isfinite(logs[best])]
    spread = float(np.std(units, ddof=1) / np.sqrt(units.size)) if units.size > 1 else 0.0
    unresolved = float(np.mean(np.log1p(resolution / np.exp(units))))
    margin = spread + unresolved
    eligible = [i for i in range(len(scores)) if scores[i] <= scores[best] + margin]
    selected = min(eligible, key=lambda i: (constants[i], scores[i], complexities[i]))
    return HeldOutChoice(selected, best, [float(s) for s in scores], margin, unresolved)
