"""k-fold over sites: each site simulated by a model that never saw its observations."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

import numpy as np
import torch

from discover.config import ConfigError
from discover.workflows.base import Workflow

log = logging.getLogger("discover")


def site_folds(n_sites: int, k: int, seed: int) -> list[list[int]]:
    """``k`` folds of site indices, a seeded random partition of ``range(n_sites)``.

    Raises:
        ConfigError: more folds than sites.
    """
    if k > n_sites:
        raise ConfigError(f"validate.site_folds: {k} folds for {n_sites} sites")
    order = np.random.default_rng(seed).permutation(n_sites)
    return [sorted(int(i) for i in fold) for fold in np.array_split(order, k)]


def fold_simulations(
    simulations: Mapping[str, np.ndarray],
    folds: list[list[int]],
    trained: Callable[[str, list[int], int], Workflow],
) -> dict[str, np.ndarray]:
    """For each variant of ``simulations`` ``{variant: [time, site, variable]}``, the
    simulation of each fold's sites by ``trained(variant, held_out_sites, fold_index)``,
    a model of that variant trained with those sites hidden from its loss."""
    result = {}
    for variant in list(simulations):
        simulated = np.full_like(simulations[variant], np.nan)
        for f, held in enumerate(folds):
            log.info("k-fold over sites: %s, fold %d of %d", variant, f + 1, len(folds))
            workflow = trained(variant, held, f)
            with torch.no_grad():
                simulated[:, held] = workflow.simulate().cpu().numpy()[:, held]
        result[variant] = simulated
    return result
