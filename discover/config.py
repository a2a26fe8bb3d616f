"""Typed, validated run configuration (YAML).

A wrong key or value fails at once with :class:`ConfigError`, whose message names the
key, e.g. ``model.neural.F.inputs: ...``. See DESIGN.md for the layout.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from discover.errors import UserError
from discover.processes.base import OutputRange


class ConfigError(UserError):
    """The configuration is invalid; the message names the offending key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False, populate_by_name=True)


class DataConfig(_Strict):
    """Where the data come from.

    ``table``: a CSV/Parquet file (``path``) with a ``time`` column (ODE models);
    ``twin``: a synthetic HBV twin of ``sites`` sites and ``days`` days with ``planted``
    processes (slot → expression) and relative streamflow ``noise``; ``fulda``/``hymod``:
    the shipped example catchments; ``netcdf``: a file (``path``) in the dataset layout.
    """

    source: Literal["table", "twin", "fulda", "hymod", "netcdf"] = "table"
    path: Path | None = None
    time: str = "time"
    site: str | None = None
    sites: int = Field(default=20, ge=1)
    days: int = Field(default=3 * 365, ge=30)
    planted: dict[str, str] = Field(default_factory=dict)
    noise: float = Field(default=0.0, ge=0)
    fill: Literal["linear", "climatology"] | None = None
    """Fill gaps in forcings with this method (``fulda``, ``hymod``, ``netcdf``); without
    it a missing or non-finite forcing is an error naming the variable, site and time."""

    @model_validator(mode="after")
    def _path_when_needed(self) -> DataConfig:
        if self.source in ("table", "netcdf") and self.path is None:
            raise ValueError(f"data.path is required for source {self.source!r}")
        if self.fill is not None and self.source in ("table", "twin"):
            raise ValueError(f"data.fill does not apply to source {self.source!r}")
        return self


class NeuralSlotConfig(_Strict):
    """A neural process slot: its inputs, output range and network size."""

    inputs: list[str] = Field(min_length=1)
    output: str | None = None
    """Output range, e.g. ``">=0"``, ``"[0, 1]"`` or with an end set by one of ``inputs``,
    ``"0 <= out <= pet"`` (see :class:`~discover.processes.OutputRange`)."""
    hidden: list[Annotated[int, Field(gt=0)]] = Field(default_factory=lambda: [32, 32])
    activation: Literal["tanh", "relu", "silu", "gelu", "softplus"] = "tanh"
    output_scale: float | None = Field(default=None, gt=0)
    warm_start: bool = False
    """Fit the network to the slot's textbook process before training (HBV slots)."""

    @field_validator("output")
    @classmethod
    def _range(cls, value: str | None) -> str | None:
        OutputRange.parse(value)
        return value

    @model_validator(mode="after")
    def _range_set_by_inputs(self) -> NeuralSlotConfig:
        """An end of ``output`` set by an input (``0 <= out <= pet``) names one of ``inputs``."""
        unknown = [n for n in OutputRange.parse(self.output).inputs if n not in self.inputs]
        if unknown:
            raise ValueError(
                f"output {self.output!r} is bounded by {unknown}, which is not among the "
                f"slot's inputs {self.inputs}"
            )
        return self


class SolverConfig(_Strict):
    """ODE integrator."""

    method: Literal["rk4", "dopri5", "dopri8", "bosh3", "adaptive_heun"] = "rk4"
    substeps: int = Field(default=4, ge=1, le=1000)
    rtol: float = Field(default=1e-6, gt=0)
    atol: float = Field(default=1e-8, gt=0)
    adjoint: bool = False


class ODEModelConfig(_Strict):
    """A universal differential equation declared from equation strings."""

    type: Literal["ode"]
    states: list[str] = Field(min_length=1)
    parameters: dict[str, float] = Field(default_factory=dict)
    equations: dict[str, str]
    neural: dict[str, NeuralSlotConfig] = Field(default_factory=dict)
    initial: dict[str, float] = Field(default_factory=dict)
    learn_initial: bool = False
    solver: SolverConfig = Field(default_factory=SolverConfig)

    @model_validator(mode="after")
    def _consistent(self) -> ODEModelConfig:
        for name in self.initial:
            if name not in self.states:
                raise ValueError(f"initial value for {name!r}, which is not a state")
        return self


class HBVModelConfig(_Strict):
    """The HBV model: slots, parameter learning and warm-up."""

    type: Literal["hbv"]
    nmul: int = Field(default=1, ge=1)
    """Parallel parameter sets per site, averaged in the output; they start spread over
    each parameter's range (seeded), so that they explore different parts of it."""
    smooth: float | None = Field(default=None, gt=0)
    routing: bool = True
    warmup: int = Field(default=365, ge=0)
    parameters: Literal["attributes", "site"] = "attributes"
    parameter_hidden: list[Annotated[int, Field(gt=0)]] = Field(default_factory=lambda: [32])
    neural: dict[str, NeuralSlotConfig] = Field(default_factory=dict)
    baseline: bool = True
    """Also train the all-textbook model as the ``physics`` variant."""


class TrainConfig(_Strict):
    """Training: split, optimiser, schedule, early stopping and checkpoints."""

    split: float = Field(default=0.7, gt=0, lt=1)
    iterations: int = Field(default=1000, ge=1)
    lr: float = Field(default=1e-2, gt=0)
    schedule: Literal["plateau", "cosine", "none"] = "cosine"
    patience: int | None = Field(default=None, ge=1)
    eval_every: int = Field(default=10, ge=1)
    checkpoint_every: int = Field(default=50, ge=1)
    lbfgs_iterations: int = Field(default=0, ge=0)
    grad_clip: float | None = Field(default=10.0, gt=0)
    weight_decay: float = Field(default=0.0, ge=0)
    """L2 penalty on neural-network weights, added to the training loss."""
    validation: float | None = Field(default=None, gt=0, lt=1)
    """Share of the training period (its last part) kept out of the training loss as the
    validation split: it chooses the weights (``restore_best``), stops early
    (``patience``) and drives the ``plateau`` schedule. Without it nothing is chosen on
    data: training ends with its last weights, and the held-out split is only watched."""
    restore_best: bool = True
    """With a validation split, end with the weights of its best loss (else the last)."""

    @model_validator(mode="after")
    def _choices_need_validation(self) -> TrainConfig:
        if self.validation is None:
            if self.patience is not None:
                raise ValueError("train.patience: early stopping needs train.validation")
            if self.schedule == "plateau":
                raise ValueError("train.schedule: 'plateau' needs train.validation")
        return self


class DistillConfig(_Strict):
    """Symbolic distillation of every neural slot."""

    engine: str = "auto"

    @field_validator("engine")
    @classmethod
    def _known_engine(cls, value: str) -> str:
        from discover.distill.engines import ENGINES

        if value != "auto" and value not in ENGINES:
            raise ValueError(f"unknown engine {value!r}; choose 'auto' or one of {sorted(ENGINES)}")
        return value

    time_budget_s: float | None = Field(default=None, gt=0)
    samples: int = Field(default=2000, ge=10)
    max_complexity: int = Field(default=15, ge=1)
    operators: list[str] | None = None
    importance_threshold: float | None = Field(default=None, ge=0, lt=1)
    """Drop inputs whose share of mean |SHAP| is below this before regression (None: keep all)."""
    selection: Literal["bic", "retrain", "front"] = "bic"
    """``bic``: put each candidate into the trained model, refit it briefly and pick the
    lowest BIC on the training data; ``retrain``: train a fresh model with each shortlisted
    candidate (``shortlist``) with the ``train`` settings, score it on the validation split
    (``train.validation``) and pick the least complex candidate not significantly worse
    than the best one (``selection_alpha``); that model then is the ``symbolic`` variant,
    trained exactly like ``physics`` (``reinsert.refit`` does not apply); ``front``: the
    symbolic-regression engine's own rule on the probed samples."""
    selection_refit_steps: int = Field(default=20, ge=0)
    """``bic``: L-BFGS steps refitting each candidate on the data before its BIC."""
    selection_refit: Literal["constants", "all"] = "constants"
    """``bic``: what that refit adjusts: the candidate's constants, or also everything else
    the model trains (the other networks and parameters, put back afterwards), as
    ``reinsert.refit: all`` will once the candidate is reinserted. With ``all``, a candidate
    does not win merely by mimicking the network that the rest of the model co-adapted with."""
    shortlist: int = Field(default=3, ge=1)
    """``retrain``: how many candidates are trained: the simplest ones on the front whose
    squared error against the learned function is at most ``shortlist_tolerance`` times
    its variance over the probed samples (the most accurate one if none is)."""
    shortlist_tolerance: float = Field(default=0.02, gt=0, lt=1)
    """``retrain``: the share of the learned function's variance a shortlisted candidate may
    leave unexplained (0.02: R² ≥ 0.98 against the network)."""
    selection_alpha: float = Field(default=0.05, gt=0, lt=1)
    """``retrain``: level of the one-sided paired test (over sites, or over time blocks at
    one site) by which a simpler candidate counts as worse than the best one."""
    options: dict[str, Any] = Field(default_factory=dict)


class ReinsertConfig(_Strict):
    """Putting the selected equations back into the model and refitting them."""

    refit: Literal["constants", "all", "none"] = "constants"
    """``constants``: every slot is distilled from the fitted model, then the equations'
    constants are refitted together; ``all``: slots are distilled one at a time, and after
    each equation replaces its network the whole model (the other networks included) is
    refitted, so the next slot is distilled from a network that has adapted to it;
    ``none``: equations are reinserted with the constants the engine found."""
    iterations: int = Field(default=200, ge=1)
    lr: float = Field(default=1e-2, gt=0)
    lbfgs_iterations: int = Field(default=10, ge=0)
    alternatives: int = Field(default=0, ge=0)
    """Also reinsert this many other front candidates per slot (best selection score
    first), each as its own variant ``symbolic:<slot>:<complexity>``."""


class HypothesisConfig(_Strict):
    """A stated hypothesis: ``slot`` computed by ``expression`` over the slot's inputs.

    Names in the expression that are not inputs of the slot are free constants, fitted
    with the model and starting from ``constants`` (default 1.0); numbers are fixed. In a
    config it may also be written ``"slot = expression"``.
    """

    slot: str
    expression: str
    constants: dict[str, float] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, value: Any) -> Any:
        if isinstance(value, str):
            slot, sep, expression = value.partition("=")
            if not sep or not slot.strip() or not expression.strip():
                raise ValueError(f"write a hypothesis as 'slot = expression', got {value!r}")
            return {"slot": slot.strip(), "expression": expression.strip()}
        return value


RESERVED_VARIANTS = ("physics", "neural", "symbolic")
"""Variant names the run gives itself; hypotheses need other names."""


class ValidateConfig(_Strict):
    """How variants are scored beyond the temporal hold-out."""

    site_folds: int | None = Field(default=None, ge=2)
    """k-fold over sites: each variant is retrained k times with one fold of sites hidden
    and scored on the hidden sites (split ``sites``); HBV models with several sites."""


class StudyConfig(_Strict):
    """One run: data, model, training and distillation."""

    name: str = "study"
    seed: int = 0
    device: Literal["cpu", "cuda"] = "cpu"
    dtype: Literal["float32", "float64"] = "float64"
    data: DataConfig
    model: Annotated[ODEModelConfig | HBVModelConfig, Field(discriminator="type")]
    train: TrainConfig = Field(default_factory=TrainConfig)
    distill: DistillConfig | None = Field(default_factory=DistillConfig)
    reinsert: ReinsertConfig = Field(default_factory=ReinsertConfig)
    hypotheses: dict[str, HypothesisConfig] = Field(default_factory=dict)
    """Stated hypotheses, each fitted and scored as a variant named by its key."""
    validate_: ValidateConfig = Field(default_factory=ValidateConfig, alias="validate")
    truth: dict[str, str] = Field(default_factory=dict)
    """Planted truth per slot (synthetic twins), as expressions in the slot's inputs."""

    @model_validator(mode="after")
    def _known_slots(self) -> StudyConfig:
        for slot in self.truth:
            if slot not in self.model.neural:
                raise ValueError(f"truth given for {slot!r}, which is not a neural slot")
        for name in self.hypotheses:
            if name in RESERVED_VARIANTS or ":" in name:
                raise ValueError(
                    f"hypotheses.{name}: the names {list(RESERVED_VARIANTS)} (and names with "
                    "':') are the run's own variants; choose another name"
                )
        if self.distill and self.distill.selection == "retrain" and not self.train.validation:
            raise ValueError(
                "distill.selection: 'retrain' scores candidates on the validation split; "
                "set train.validation (the share of the training period kept for it)"
            )
        if self.validate_.site_folds and self.model.type != "hbv":
            raise ValueError("validate.site_folds: k-fold over sites needs an hbv model")
        return self

    def resolved(self) -> dict[str, Any]:
        """Plain data with every default filled in (JSON/YAML ready)."""
        return json.loads(self.model_dump_json(by_alias=True))

    def digest(self) -> str:
        """Short hash of the resolved configuration, for provenance."""
        text = json.dumps(self.resolved(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


MODEL_TYPES = ("ode", "hbv")


def load_config(path: str | Path) -> tuple[StudyConfig, Path]:
    """Read and validate a YAML config; return it and the folder relative paths refer to.

    Raises:
        ConfigError: unreadable file, bad YAML, or an invalid key or value (named).
    """
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path} is not valid YAML: {err}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path} must contain a mapping of keys, got {type(raw).__name__}")
    return parse_config(raw, source=str(path)), path.parent


def parse_config(raw: dict[str, Any], source: str = "config") -> StudyConfig:
    """Validate a config given as a dictionary (see :func:`load_config`)."""
    try:
        return StudyConfig.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(f"invalid {source}:\n" + _explain(err)) from None


def _explain(err: ValidationError) -> str:
    lines = []
    for problem in err.errors():
        loc = list(problem["loc"])
        if loc[:1] == ["model"] and len(loc) > 1 and loc[1] in MODEL_TYPES:
            del loc[1]  # the union's tag is not a key of the file
        if problem["type"] in ("union_tag_invalid", "union_tag_not_found"):
            loc.append("type")
        key = ".".join(str(part) for part in loc) or "(top level)"
        message = problem["msg"]
        if problem["type"] == "extra_forbidden":
            message = "unknown key"
        lines.append(f"  {key}: {message}")
    return "\n".join(lines)
