"""The whole run configuration, :class:`StudyConfig`: its top-level keys, its sections and
the checks across sections."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from discover.config.base import ExpressionText, Strict
from discover.config.data_and_model import DataConfig, HBVModelConfig, ODEModelConfig
from discover.config.stage_settings import (
    DistillConfig,
    HypothesisConfig,
    ReinsertConfig,
    TrainConfig,
    ValidateConfig,
)

RESERVED_VARIANTS = ("physics", "neural", "symbolic")
"""Variant names the run gives itself; hypotheses need other names."""

MODEL_TYPES = ("ode", "hbv")
"""Values of ``model.type``."""

_NAME = re.compile(r"[A-Za-z0-9_.-]{1,128}")


class StudyConfig(Strict):
    """One run: data, model, training and distillation."""

    name: str = "study"
    """Names the default run directory ``runs/<name>``: letters, digits, ``_``, ``-``, ``.``."""
    seed: int = Field(default=0, ge=0, le=2**32 - 1)
    """Seed of every random draw of the run (weights, twins, probes, searches)."""
    device: Literal["cpu", "cuda"] = "cpu"
    """Where torch computes."""
    dtype: Literal["float32", "float64"] = "float64"
    """Floating-point precision of the models and data."""
    data: DataConfig
    """Where the data come from."""
    model: Annotated[ODEModelConfig | HBVModelConfig, Field(discriminator="type")]
    """The model, by ``type``: ``ode`` or ``hbv``."""
    train: TrainConfig = Field(default_factory=TrainConfig)
    """Training of every variant."""
    distill: DistillConfig | None = Field(default_factory=DistillConfig)
    """Symbolic distillation of the neural slots (``null``: the run stops after training)."""
    reinsert: ReinsertConfig = Field(default_factory=ReinsertConfig)
    """Putting the selected equations back into the model."""
    hypotheses: dict[str, HypothesisConfig] = Field(default_factory=dict)
    """Stated hypotheses, each fitted and scored as a variant named by its key."""
    validate_: ValidateConfig = Field(default_factory=ValidateConfig, alias="validate")
    """How variants are scored beyond the temporal hold-out."""
    truth: dict[str, ExpressionText] = Field(default_factory=dict)
    """Planted truth per slot (synthetic twins), as expressions in the slot's inputs."""

    @field_validator("name")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        if not _NAME.fullmatch(value) or value in (".", ".."):
            raise ValueError(
                f"{value!r} names the run folder runs/<name>: use only letters, digits, "
                "'_', '-' and '.' (no path separators, not '.' or '..')"
            )
        return value

    @field_validator("device")
    @classmethod
    def _device_present(cls, value: str) -> str:
        import torch

        if value == "cuda" and not torch.cuda.is_available():
            raise ValueError("'cuda' asked for, but torch sees no CUDA device; use 'cpu'")
        return value

    @model_validator(mode="after")
    def _known_names(self) -> StudyConfig:
        for slot in self.truth:
            if slot not in self.model.neural:
                raise ValueError(f"truth given for {slot!r}, which is not a neural slot")
        for name in self.hypotheses:
            if name in RESERVED_VARIANTS or ":" in name:
                raise ValueError(
                    f"hypotheses.{name}: the names {list(RESERVED_VARIANTS)} (and names with "
                    "':') are the run's own variants; choose another name"
                )
        if self.validate_.site_folds and self.model.type != "hbv":
            raise ValueError("validate.site_folds: k-fold over sites needs an hbv model")
        return self

    @model_validator(mode="after")
    def _selection_fits_the_run(self) -> StudyConfig:
        if self.distill is None:
            return self
        selection = self.distill.selection
        if selection.rule == "retrain" and not self.train.validation:
            raise ValueError(
                "distill.selection: 'retrain' scores candidates on the validation split; "
                "set train.validation (the share of the training period kept for it)"
            )
        if "refit" in self.reinsert.model_fields_set and selection.trains_models():
            raise ValueError(
                f"reinsert.refit does not apply with distill.selection.rule "
                f"{selection.rule!r}: that rule trains the selected equation's model from "
                "scratch and adopts it; remove reinsert.refit"
            )
        return self

    def resolved(self) -> dict[str, Any]:
        """Plain data with every default filled in (JSON/YAML ready)."""
        return json.loads(self.model_dump_json(by_alias=True))

    def digest(self) -> str:
        """Short hash of the resolved configuration, for provenance."""
        text = json.dumps(self.resolved(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]
