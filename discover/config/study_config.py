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
from discover.config.periods import PeriodConfig, follow_on
from discover.config.selection import SHOOTING_SELECTION_RULE
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
    threads: int | None = Field(default=1, ge=1, le=1024)
    """CPU threads of each process's torch operations (``discover run``/``demo``;
    ``null``: torch's default, ``OMP_NUM_THREADS`` or every core). One by default: the
    models step small tensors through long time loops, where a second thread mostly waits
    (a Fulda calibration generation, 448 members: 0.9 s on one thread, 1.7 s on two, on a
    busy 2-core machine); raise it for wide batches (an LSTM over hundreds of basins)."""
    dtype: Literal["float32", "float64"] = "float64"
    """Floating-point precision of the models and data."""
    data: DataConfig
    """Where the data come from."""
    model: Annotated[ODEModelConfig | HBVModelConfig, Field(discriminator="type")]
    """The model, by ``type``: ``ode`` or ``hbv``."""
    train: TrainConfig = Field(default_factory=TrainConfig)
    """Training of every variant."""
    test: PeriodConfig | None = None
    """The held-out period by date, ``{period: [first day, last day]}`` (needs
    ``train.period``; starts the day after the training, or validation, period ends).
    ``null``: every day after them."""
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
        per_site = self.model.type == "hbv" and self.model.parameters == "site"
        if self.train.calibration.enabled and not per_site:
            raise ValueError(
                "train.calibration: calibration searches per-site parameters of an hbv "
                "model (model.parameters: site); set train.calibration: false"
            )
        if self.validate_.site_folds and self.model.type != "hbv":
            raise ValueError("validate.site_folds: k-fold over sites needs an hbv model")
        if self.train.batch is not None and self.model.type != "hbv":
            raise ValueError("train.batch: mini-batches of sites and days need an hbv model")
        return self

    @model_validator(mode="after")
    def _data_fits_the_model(self) -> StudyConfig:
        """Periods (dates) and the keys of per-site tables need an hbv model; held-out
        days follow the training (or validation) period."""
        dated = self.train.period is not None or self.test is not None
        if self.model.type != "hbv":
            if dated:
                raise ValueError(
                    "train.period / test.period split dated daily data (hbv models); an "
                    "ode model splits its time series by train.split"
                )
            ode_table = self.data.source == "table"
            for key in ("attributes", "units", "fill", "attribute_names", "attribute_fill"):
                if ode_table and getattr(self.data, key):
                    raise ValueError(f"data.{key} applies to tables of an hbv model only")
        if self.test is None:
            return self
        if self.train.period is None:
            raise ValueError("test.period needs train.period (the training period by date)")
        validation = self.train.validation
        if isinstance(validation, PeriodConfig):
            follow_on("test.period", self.test.period, "train.validation.period", validation.period)
        else:
            follow_on("test.period", self.test.period, "train.period", self.train.period)
        return self

    @model_validator(mode="after")
    def _selection_fits_the_run(self) -> StudyConfig:
        if self.distill is None:
            return self
        selection = self.distill.selection
        if "rule" not in selection.model_fields_set and self._trains_by_shooting():
            selection.rule = SHOOTING_SELECTION_RULE
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

    def _trains_by_shooting(self) -> bool:
        """Whether the model is an ODE model trained by multiple shooting (``train.shooting``
        on, fixed-step ``rk4`` solver; see :func:`discover.fit.shooting.multiple_shooting`)."""
        return (
            self.model.type == "ode"
            and self.train.shooting.segment is not None
            and self.model.solver.method == "rk4"
        )

    def resolved(self) -> dict[str, Any]:
        """Plain data with every default filled in (JSON/YAML ready)."""
        return json.loads(self.model_dump_json(by_alias=True))

    def digest(self) -> str:
        """Short hash of the resolved configuration, for provenance."""
        text = json.dumps(self.resolved(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]
