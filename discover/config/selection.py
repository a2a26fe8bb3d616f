"""The ``distill.selection`` section: which candidate of a slot's Pareto front goes back
into the model, by which rule (a name in :data:`discover.stages.select.SELECTION_RULES`)
and with which settings.

It is written as a rule name (``selection: bic``) or a mapping (``selection: {rule:
retrain, shortlist: 2}``). The flat keys of earlier releases (``distill.shortlist``,
``distill.selection_alpha``, ...; :data:`FLAT_SELECTION_KEYS`) are still accepted for one
release, with a warning, and folded into the mapping.
"""

from __future__ import annotations

import warnings
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from discover.config.base import Strict

FLAT_SELECTION_KEYS = {
    "selection_refit": "refit",
    "selection_refit_steps": "refit_steps",
    "shortlist": "shortlist",
    "shortlist_tolerance": "tolerance",
    "selection_alpha": "alpha",
}
"""Deprecated flat keys of ``distill`` → their key under ``distill.selection``."""


SHOOTING_SELECTION_RULE = "heldout"
"""The selection rule of an ODE study trained by multiple shooting whose config names none
(others get the field's default, ``bic``): on nearly noise-free or autocorrelated
residuals BIC favours nested forms that follow a network's wiggles over the law, and with
multiple shooting the held-out rule's fold refits cost about as much per step as BIC's
refit (one-shot fold refits cost many times BIC's selection)."""


class SelectionConfig(Strict):
    """How a slot's equation is chosen from its Pareto front: the rule and its settings."""

    rule: str = "bic"
    """Name of a registered selection rule: ``bic`` (each candidate of the front and of
    the next Pareto layer put into the trained model, refitted briefly, lowest BIC on the
    training data), ``heldout`` (the same candidates refitted on alternate time blocks of
    the training data and scored on the others; the simplest one within one standard
    error of the best held-out error), ``retrain`` (each shortlisted candidate trained in
    a fresh model, the simplest one not significantly worse on the validation split; its
    model becomes the ``symbolic`` variant), ``front`` (the engine's own choice), or one
    added by ``register_selection_rule``. Unset, an ``ode`` study trained by multiple
    shooting (``train.shooting`` on, ``rk4`` solver) uses ``heldout``
    (:data:`SHOOTING_SELECTION_RULE`) and every other study ``bic`` (their refits simulate
    the whole period in one shot, and ``heldout`` refits each candidate twice from a
    starting point BIC's refit is already near)."""
    refit: Literal["constants", "all"] = "constants"
    """``bic``, ``heldout``: what is refitted before each candidate is scored: its
    constants, or also everything else the model trains (put back afterwards), as
    ``reinsert.refit: all`` will once the candidate is reinserted."""
    refit_steps: int = Field(default=20, ge=0)
    """``bic``, ``heldout``: L-BFGS steps of that refit (0: no refit)."""
    shortlist: int = Field(default=3, ge=1)
    """``retrain``: how many candidates are trained: the simplest ones on the front that
    reproduce the learned function within ``tolerance``."""
    tolerance: float = Field(default=0.02, gt=0, lt=1)
    """``retrain``: share of the learned function's variance over the probed samples a
    shortlisted candidate may leave unexplained (0.02: R² ≥ 0.98 against the network)."""
    alpha: float = Field(default=0.05, gt=0, lt=1)
    """``retrain``: level of the one-sided paired test (over sites, or time blocks at one
    site) by which a simpler candidate counts as worse than the best one."""

    @model_validator(mode="before")
    @classmethod
    def _from_name(cls, value: Any) -> Any:
        return {"rule": value} if isinstance(value, str) else value

    @field_validator("rule")
    @classmethod
    def _registered(cls, value: str) -> str:
        from discover.stages.select import SELECTION_RULES  # lazily: it imports this package

        if value not in SELECTION_RULES:
            raise ValueError(
                f"no selection rule {value!r}; registered rules: {sorted(SELECTION_RULES)}"
            )
        return value

    def trains_models(self) -> bool:
        """Whether the rule trains a model per candidate and adopts the selected one's."""
        from discover.stages.select import selection_rule

        return bool(getattr(selection_rule(self.rule), "trains_models", False))


def fold_flat_selection_keys(distill: Any) -> Any:
    """``distill`` with the deprecated flat keys moved under ``selection`` (one warning
    names the new keys).

    Raises:
        ValueError: a setting given both ways (the message names both keys).
    """
    flat = [key for key in FLAT_SELECTION_KEYS if isinstance(distill, dict) and key in distill]
    if not flat:
        return distill
    distill = dict(distill)
    selection = distill.get("selection", {})
    if isinstance(selection, str):
        selection = {"rule": selection}
    if not isinstance(selection, dict):
        return distill  # pydantic names the wrong type of distill.selection
    selection = dict(selection)
    for key in flat:
        new = FLAT_SELECTION_KEYS[key]
        if new in selection:
            raise ValueError(
                f"distill.{key} and distill.selection.{new} are both given; keep "
                f"distill.selection.{new}"
            )
        selection[new] = distill.pop(key)
    old = ", ".join(f"distill.{key}" for key in flat)
    new = ", ".join(f"distill.selection.{FLAT_SELECTION_KEYS[key]}" for key in flat)
    warnings.warn(
        f"{old}: deprecated, write {new} (the flat keys are read until the next release)",
        FutureWarning,
        stacklevel=2,
    )
    distill["selection"] = selection
    return distill
