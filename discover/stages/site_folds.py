"""k-fold over sites: each site simulated by a model that never saw its observations."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import numpy as np
import torch

from discover.config import ConfigError
from discover.workflows.base import Workflow

if TYPE_CHECKING:
    from discover.study import Study

log = logging.getLogger("discover")


def validate_sites(study: Study, resume: bool, progress: bool) -> dict[str, np.ndarray]:
    """k-fold over sites (``validate.site_folds``): every recorded variant of ``study`` is
    retrained k times with one fold of sites hidden from the loss, and each site is
    simulated by the model that never saw it. Returns ``{variant: [time, site, variable]}``
    (split ``sites`` of the scores).

    Raises:
        ValueError: the config has no ``validate.site_folds``.
    """
    k = study.config.validate_.site_folds
    if k is None:
        raise ValueError("the config has no validate.site_folds")
    folds = site_folds(len(study.workflow.sites), k, study.config.seed)

    def trained(variant: str, held: list[int], fold: int) -> Workflow:
        with study.timings(f"site folds {variant}"):
            folder, what = f"sites/{variant}/fold{fold}", f"site fold {fold + 1}/{k} {variant}"
            return study.train_variant(variant, held, folder, resume, progress, what)[0]

    return fold_simulations(study.simulations, folds, trained)


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
