"""What a checkpoint must share with the run that resumes from it.

A checkpoint records the settings its model was trained with: the seed, the optimiser
settings of ``train`` and, when the model is a study's workflow, every ``model`` key of
the config, plus the names and shapes of the trained tensors. Resuming with any of them
changed would continue a different training under the old state, so it is refused;
``train.iterations`` alone may change (the trainer recomputes the schedule for it).
"""

from __future__ import annotations

from typing import Any

from torch import nn

from discover.config import StudyConfig, TrainConfig
from discover.errors import UserError

RESUMABLE = ("iterations", "checkpoint_every")
"""``train`` keys that may change between a checkpoint and the run resuming from it."""

SHOWN = 8
"""Most differing keys a refusal lists."""


class ResumeError(UserError):
    """A run cannot resume from its checkpoint; the message names each differing key."""


def training_settings(model: nn.Module, config: TrainConfig, seed: int) -> dict[str, Any]:
    """The settings a checkpoint records: ``{"seed": .., "train.lr": .., "model.<key>": ..,
    "weights.<tensor>": shape}`` (``model.*`` when ``model`` has a study ``config``)."""
    settings: dict[str, Any] = {"seed": seed}
    settings |= _flatten("train", config.model_dump(mode="json", exclude=set(RESUMABLE)))
    study = getattr(model, "config", None)
    if isinstance(study, StudyConfig):
        settings |= _flatten("model", study.model.model_dump(mode="json"))
    for name, tensor in model.named_parameters():
        if tensor.requires_grad:
            settings[f"weights.{name}"] = list(tensor.shape)
    return settings


def check_resumable(recorded: dict[str, Any], current: dict[str, Any], path: str) -> None:
    """Refuse to resume from the checkpoint at ``path`` when ``current`` settings differ
    from the ``recorded`` ones.

    Raises:
        ResumeError: naming each differing key with its old and new value.
    """
    changes = [
        f"{key}: {_shown(recorded.get(key))} → {_shown(current.get(key))}"
        for key in sorted(set(recorded) | set(current))
        if recorded.get(key) != current.get(key)
    ]
    if changes:
        shown = changes[:SHOWN] + ([f"{len(changes) - SHOWN} more"] if len(changes) > SHOWN else [])
        raise ResumeError(
            f"cannot resume from {path}: the model or optimiser settings changed "
            f"({'; '.join(shown)}); restore them, or start afresh without --resume "
            "(only train.iterations may change when resuming)"
        )


def _flatten(prefix: str, values: dict[str, Any]) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}.{key}"
        flat |= _flatten(name, value) if isinstance(value, dict) and value else {name: value}
    return flat


def _shown(value: Any) -> str:
    return "(not set)" if value is None else str(value)
