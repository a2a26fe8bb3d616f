"""Typed, validated run configuration (YAML).

A wrong key or value fails at once with :class:`ConfigError`, whose message names the
key, e.g. ``model.neural.F.inputs: ...``. See DESIGN.md for the layout.

Hostile or careless input is bounded here, before anything is built: every float must be
finite, seeds fit numpy's 32 bits, networks and twins have a maximum size, adaptive solver
tolerances a minimum, every equation string is vetted by
:func:`discover.expressions.vet_expression`, and the YAML file itself may not repeat a key
or use aliases (see :func:`load_config`).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from discover.errors import UserError
from discover.expressions import vet_expression
from discover.processes.base import OutputRange

MAX_HIDDEN = 4096
"""Widest hidden layer of a network."""
MAX_LAYERS = 16
"""Most hidden layers of a network."""
MIN_TOLERANCE = 1e-12
"""Smallest ``rtol``/``atol`` of an adaptive solver."""
MAX_CONFIG_BYTES = 1_000_000
"""Largest config file read."""
MAX_OPTIONS_DEPTH = 8
"""Deepest nesting of lists and mappings under ``distill.options``."""


class ConfigError(UserError):
    """The configuration is invalid; the message names the offending key."""


class _Strict(BaseModel):
    # allow_inf_nan=False: every float of every section must be finite (.inf, .nan,
    # 1.0e+400 are refused naming the key)
    model_config = ConfigDict(
        extra="forbid", frozen=False, populate_by_name=True, allow_inf_nan=False
    )


def _vetted(text: str) -> str:
    vet_expression(text)  # an ExpressionError is a ValueError: pydantic names the key
    return text


ExpressionText = Annotated[str, AfterValidator(_vetted)]
"""An equation string, vetted (size, numbers, powers, constants) before anything parses it."""

HiddenSizes = Annotated[
    list[Annotated[int, Field(gt=0, le=MAX_HIDDEN)]], Field(max_length=MAX_LAYERS)
]
"""Widths of a network's hidden layers: at most :data:`MAX_LAYERS` of at most
:data:`MAX_HIDDEN` units."""


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
    sites: int = Field(default=20, ge=1, le=10_000)
    days: int = Field(default=3 * 365, ge=30, le=36_525)
    planted: dict[str, ExpressionText] = Field(default_factory=dict)
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
        if self.planted:
            from discover.models.hbv_processes import HBV_BOUNDS, SLOT_INPUTS

            for name in self.planted:
                if name not in SLOT_INPUTS and name not in HBV_BOUNDS:
                    raise ValueError(
                        f"data.planted.{name}: not an HBV slot {list(SLOT_INPUTS)} or "
                        f"parameter {list(HBV_BOUNDS)}"
                    )
        return self


class NeuralSlotConfig(_Strict):
    """A neural process slot: its inputs, output range and network size."""

    inputs: list[str] = Field(min_length=1)
    output: str | None = None
    """Output range, e.g. ``">=0"``, ``"[0, 1]"`` or with an end set by one of ``inputs``,
    ``"0 <= out <= pet"`` (see :class:`~discover.processes.OutputRange`)."""
    hidden: HiddenSizes = Field(default_factory=lambda: [32, 32])
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

    @field_validator("rtol", "atol")
    @classmethod
    def _reachable(cls, value: float) -> float:
        if value < MIN_TOLERANCE:
            raise ValueError(
                f"{value:g} is below {MIN_TOLERANCE:g}: float64 rounding (about 1e-16 per "
                "step) cannot meet it, so an adaptive solver would shrink its steps without end"
            )
        return value


class StateBounds(_Strict):
    """Bounds a state is held in during integration (``None``: unbounded on that side)."""

    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _ordered(self) -> StateBounds:
        if self.min is not None and self.max is not None and not self.min < self.max:
            raise ValueError(f"min {self.min} must be below max {self.max}")
        return self


class ODEModelConfig(_Strict):
    """A universal differential equation declared from equation strings.

    ``states`` lists state names; an entry may instead be a mapping ``{name: N, min: 0}``
    (and/or ``max``), which declares bounds the state is held in during integration
    (read into ``bounds``, which may also be given directly: ``bounds: {N: {min: 0}}``).
    """

    type: Literal["ode"]
    states: list[str] = Field(min_length=1)
    bounds: dict[str, StateBounds] = Field(default_factory=dict)
    parameters: dict[str, float] = Field(default_factory=dict)
    equations: dict[str, ExpressionText]
    neural: dict[str, NeuralSlotConfig] = Field(default_factory=dict)
    initial: dict[str, float] = Field(default_factory=dict)
    learn_initial: bool = False
    solver: SolverConfig = Field(default_factory=SolverConfig)

    @model_validator(mode="before")
    @classmethod
    def _bounded_state_entries(cls, value: Any) -> Any:
        if not isinstance(value, dict) or not isinstance(value.get("states"), list):
            return value
        names, bounds = [], dict(value.get("bounds") or {})
        for entry in value["states"]:
            if isinstance(entry, dict):
                entry = dict(entry)
                name = entry.pop("name", None)
                if not isinstance(name, str):
                    raise ValueError(f"states: {entry} needs a 'name' (e.g. {{name: N, min: 0}})")
                if name in bounds:
                    raise ValueError(f"states: bounds of {name!r} are given twice")
                bounds[name] = entry
                entry = name
            names.append(entry)
        return {**value, "states": names, "bounds": bounds}

    @model_validator(mode="after")
    def _consistent(self) -> ODEModelConfig:
        for name in self.initial:
            if name not in self.states:
                raise ValueError(f"initial value for {name!r}, which is not a state")
        for name in self.bounds:
            if name not in self.states:
                raise ValueError(f"bounds given for {name!r}, which is not a state")
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
    parameter_hidden: HiddenSizes = Field(default_factory=lambda: [32])
    neural: dict[str, NeuralSlotConfig] = Field(default_factory=dict)
    baseline: bool = True
    """Also train the all-textbook model as the ``physics`` variant."""


class ShootingConfig(_Strict):
    """Multiple shooting (ODE models): the training period is cut into segments of
    ``segment`` time steps, each integrated from its own trainable initial state, all in
    one batch; ``continuity`` weighs the penalty between a segment's end and the next
    segment's start (``segment: null``: one shot over the whole period)."""

    segment: int | None = Field(default=10, ge=1)
    continuity: float = Field(default=1.0, gt=0)


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
    shooting: ShootingConfig = Field(default_factory=lambda: ShootingConfig())
    """ODE models: multiple shooting of the training loss (``false`` or ``segment: null``:
    one shot over the whole training period)."""
    collocation: bool = True
    """ODE models: before training, fit the neural slots to the rates of change of
    smoothed observations (no ODE solve); skipped where a slot sees unobserved states."""

    @field_validator("shooting", mode="before")
    @classmethod
    def _shooting_switch(cls, value: Any) -> Any:
        if isinstance(value, bool):
            return {} if value else {"segment": None}
        return value

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

    @field_validator("options")
    @classmethod
    def _plain_options(cls, value: dict[str, Any]) -> dict[str, Any]:
        _check_plain(value, "", 0)
        return value


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
    expression: ExpressionText
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
    """Names the default run directory ``runs/<name>``: letters, digits, ``_``, ``-``, ``.``."""
    seed: int = Field(default=0, ge=0, le=2**32 - 1)
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

_NAME = re.compile(r"[A-Za-z0-9_.-]{1,128}")


def _check_plain(value: Any, key: str, depth: int) -> None:
    """Refuse non-finite floats and nesting deeper than :data:`MAX_OPTIONS_DEPTH`."""
    if depth > MAX_OPTIONS_DEPTH:
        raise ValueError(f"{key or 'options'} nests deeper than {MAX_OPTIONS_DEPTH} levels")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{key}: {value} is not a finite number")
    items = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for name, item in items:
        _check_plain(item, f"{key}.{name}" if key else str(name), depth + 1)


def load_config(path: str | Path) -> tuple[StudyConfig, Path]:
    """Read and validate a YAML config; return it and the folder relative paths refer to.

    The file must be UTF-8 text of at most :data:`MAX_CONFIG_BYTES`. The YAML reader is
    stricter than YAML itself: a key repeated in one mapping is an error (YAML would keep
    the last one silently), and aliases (``*name``) are refused altogether: a config has
    no need for them, and nested aliases can expand to gigabytes ("billion laughs").

    Raises:
        ConfigError: a missing or unreadable file, a folder, non-UTF-8 text, bad YAML, a
            duplicate key or alias (with its line), or an invalid key or value (named).
    """
    path = Path(path)
    try:
        if path.is_dir():
            raise ConfigError(f"config {path} is a folder, not a YAML file")
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise ConfigError(f"config file {path} is larger than {MAX_CONFIG_BYTES} bytes")
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except UnicodeDecodeError as err:
        raise ConfigError(
            f"config file {path} is not UTF-8 text (byte {err.start}: {err.object[err.start]:#x})"
        ) from None
    except OSError as err:
        raise ConfigError(f"cannot read config file {path}: {err.strerror}") from None
    try:
        raw = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 (a SafeLoader)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f", line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}{where}: {err.problem or err.context}") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path} is not valid YAML: {err}") from None
    except RecursionError:
        raise ConfigError(f"{path}: lists or mappings nest too deeply") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path} must contain a mapping of keys, got {type(raw).__name__}")
    return parse_config(raw, source=str(path)), path.parent


class _StrictLoader(yaml.SafeLoader):
    """The safe YAML loader, refusing aliases and a key repeated in one mapping."""

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None,
                None,
                f"alias *{event.anchor} is not allowed in a config; write the value out",
                event.start_mark,
            )
        return super().compose_node(parent, index)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        first: dict[Any, int] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue  # the base class refuses unhashable keys
            key = self.construct_object(key_node)
            line = key_node.start_mark.line + 1
            if key in first:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"duplicate key {key!r} (first at line {first[key]}); YAML would keep "
                    "only the last",
                    key_node.start_mark,
                )
            first[key] = line
        return super().construct_mapping(node, deep=deep)


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
