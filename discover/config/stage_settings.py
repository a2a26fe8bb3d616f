"""The sections that set the run's stages: ``train``, ``distill``, ``reinsert``,
``hypotheses`` and ``validate``."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from discover.config.base import MAX_OPTIONS_DEPTH, ExpressionText, Strict
from discover.config.periods import DatePeriod, PeriodConfig, follow_on
from discover.config.selection import SelectionConfig, fold_flat_selection_keys


class ShootingConfig(Strict):
    """Multiple shooting (ODE models): the training period is cut into segments of
    ``segment`` time steps, each integrated from its own trainable initial state, all in
    one batch; ``continuity`` weighs the penalty between a segment's end and the next
    segment's start (``segment: null``: one shot over the whole period)."""

    segment: int | None = Field(default=10, ge=1)
    """Length of a segment (time steps of the data); ``null``: one shot over the whole
    training period."""
    continuity: float = Field(default=1.0, gt=0)
    """Weight of the penalty on the mismatch between a segment's end and the next
    segment's trainable start, relative to the data loss."""


class CalibrationConfig(Strict):
    """Global calibration before gradient training (``train.calibration``): CMA-ES over
    each site's HBV parameters and the free constants of symbolic slots, then an L-BFGS
    polish (:func:`discover.fit.calibration.calibrate`). ``false`` turns it off, ``true``
    or a mapping of these settings turns it on."""

    enabled: bool | None = None
    """Calibrate before gradient training. ``null``: on for HBV models with
    ``model.parameters: site``, off otherwise; ``true`` is refused for other models."""
    population: int | None = Field(default=None, ge=4)
    """Members per generation, site and search; ``null``: 32 per searched value (a
    generation costs about the same for a few or a few hundred members on a CPU; the
    batch is ``sites·searches·population`` columns, so with many sites, lower; a batch
    beyond 2 GiB is run in chunks, one after another)."""
    generations: int = Field(default=400, ge=1)
    """Most generations; the budget is ``population·generations`` simulations per site."""
    searches: int = Field(default=2, ge=1)
    """Independent CMA-ES searches per site, each with its own seed stream, run side by
    side: their members share one batched forward pass, each search is told only its own
    members' losses and stops on its own, and the best member of all is kept (a
    multi-start against HBV's several optima). On Fulda (5 seeds) one search found the
    better of two optima in 3 seeds, two in all 5, at 1.3–1.4 times the CPU time; one search
    of the same batch width (twice the population) in 3, and two of half the population
    in 4 (:data:`discover.fit.calibration.MEMBERS_PER_VALUE`)."""
    sigma: float = Field(default=0.25, gt=0, le=0.5)
    """Initial step of the search, as a share of each parameter's range."""
    tolerance: float = Field(default=0.003, ge=0)
    """A search stops when the training loss of its own best member has fallen at no site
    by more than this over the last ``patience`` generations (its own members: a search
    from a good start draws worse members at first, and still converges). The loss is
    the squared error over the observations' variance, so this is in units of NSE (0.003:
    by 0.003 of NSE, whatever the NSE; 0: only when it stops falling at all). To recover
    a planted twin's parameters closely, lower it (with 0.003 a twin's search stops near
    loss 0.0015)."""
    patience: int = Field(default=10, ge=1)
    """Generations over which ``tolerance`` is judged; also how far ahead a search that
    trails another is judged able to catch up (a search behind the best of the others by
    more than it gained over the last ``patience`` generations stops)."""
    precision: Literal["model", "float32"] = "model"
    """Precision of the search's simulations: ``model`` (the model's ``dtype``), or
    ``float32``. CMA-ES uses only the order of the members' losses; in float32 they agree
    with float64 to about 1e-6 (the rounding of a storage, ~1e-7 of it, over a few thousand
    days), far below any ``tolerance`` that tells members apart, and a wide generation
    costs about 15 % less (twice the numbers per vector instruction); the kept point's
    training loss is taken again in the model's ``dtype``. But every near-tie ordered
    differently sends a search along another path, so on a model with several optima a
    float32 search ends where a search with another seed might: the default keeps the
    model's precision, the same computation as its training and evaluation. (Fulda,
    ``H_saturating`` from the calibrated textbook parameters: float64 seed 0 and float32
    seeds 1, 2 reached loss 0.168, float32 seed 0 0.174.)"""
    constant_spread: float = Field(default=2.0, gt=0)
    """Half-width of each symbolic constant's search range, in units of its magnitude
    (``b = 0.5`` is searched in ``[-0.5, 1.5]`` with 2)."""
    log_scale: bool = True
    """Search each parameter whose bounds span a factor of 10 or more above zero (e.g. the
    recession coefficients, ``fc``, ``cfmax``) on a logarithmic scale, so that equal steps
    are equal factors; ``false``: every parameter on a linear scale."""
    parameters: list[str] | None = None
    """HBV parameters searched (every parallel set of each); the others keep their current
    values. ``null``: all of them. Symbolic constants are always searched."""
    polish_steps: int = Field(default=0, ge=0)
    """L-BFGS iterations (each a gradient and a line search) from the best member; 0: no
    polish (the default: each iteration costs several generations, and in ``discover
    run`` the gradient training that follows the calibration of a model with networks
    polishes from its result)."""
    gradient_training: Literal["auto", "always"] = "auto"
    """Gradient training (``train.iterations`` Adam steps, the better of it and the
    calibration kept) after the calibration. ``auto``: only when the model has trainable
    values the search does not set (networks, parameters left out of ``parameters``,
    symbolic constants shared by several sites); a step along the gradient from a
    calibrated optimum gains less than ``tolerance`` (on Fulda's textbook HBV, 60 Adam
    steps at lr 0.05 raised the training loss by 0.0015). ``always``: after every
    calibration."""


class BatchConfig(Strict):
    """Mini-batch training (``train.batch``): every Adam step scores ``sites`` sites drawn
    at random (all of them when there are fewer) over a window of ``days`` consecutive
    days, the first ``warmup`` of which are simulated from empty storages but not scored;
    the scored days lie inside the training split. The batch is per process: under
    ``torchrun`` each of N processes runs its own batch every step (N batches a step).
    Validation, held-out scores and L-BFGS steps always run whole periods (HBV models;
    ``docs/scale.md``)."""

    sites: int = Field(default=100, ge=1)
    """Sites per batch and process (all of them when the data have fewer)."""
    days: int = Field(default=730, ge=2)
    """Length of a window in days, its warm-up included."""
    warmup: int = Field(default=365, ge=0)
    """Leading days of a window that set the storages and are not scored (days)."""

    @model_validator(mode="after")
    def _scored_days(self) -> BatchConfig:
        if not self.days > self.warmup:
            raise ValueError(
                f"train.batch.days ({self.days}) must exceed train.batch.warmup "
                f"({self.warmup}): a window needs days to score"
            )
        return self


class TrainConfig(Strict):
    """Training: split, optimiser, schedule, early stopping and checkpoints."""

    split: float = Field(default=0.7, gt=0, lt=1)
    """Share of the time series used for training; the rest is the held-out ``test``
    period every variant is scored on."""
    period: DatePeriod | None = None
    """Training period ``[first day, last day]`` (both included) of dated data (HBV), in
    place of ``split``; the ``model.warmup`` days before it set the storages, and the
    held-out ``test`` period follows it (``test.period``, else every later day)."""
    iterations: int = Field(default=1000, ge=1)
    """Adam steps."""
    lr: float = Field(default=1e-2, gt=0)
    """Adam's learning rate (at the start of the schedule)."""
    schedule: Literal["plateau", "cosine", "none"] = "cosine"
    """Learning-rate schedule: ``cosine`` decay, halved on a ``plateau`` of the validation
    loss (needs ``validation``), or ``none``."""
    patience: int | None = Field(default=None, ge=1)
    """Early stopping after this many evaluations without a better validation loss
    (needs ``validation``; ``null``: no early stopping)."""
    min_improvement: float = Field(default=0.0, ge=0)
    """For ``patience``: a validation loss is better only when it is lower than the best
    so far by more than this, in the units of the validation loss (the best weights are
    kept on any improvement)."""
    eval_every: int = Field(default=50, ge=1)
    """Adam steps between evaluations of the validation (else held-out) loss. An
    evaluation integrates the whole period up to the end of its split in one shot, which
    can cost several training steps (an ODE model trained by multiple shooting: about 4);
    every 50 steps, a 1000-step training is evaluated 20 times."""
    checkpoint_every: int = Field(default=50, ge=1)
    """Adam steps between checkpoints of the full training state (for ``--resume``)."""
    lbfgs_iterations: int = Field(default=0, ge=0)
    """L-BFGS steps on the whole training split after Adam (0: none)."""
    lbfgs_tolerance: float = Field(default=1e-9, ge=0)
    """An L-BFGS step (up to 20 iterations) that lowers the training loss by less than
    this ends the L-BFGS stage: it has converged. In the units of the training loss (with
    its ``weight_decay`` penalty); the default is the change at which each iteration of
    torch's L-BFGS stops."""
    grad_clip: float | None = Field(default=10.0, gt=0)
    """Largest norm of the gradient of an Adam step (``null``: not clipped)."""
    weight_decay: float = Field(default=0.0, ge=0)
    """L2 penalty on neural-network weights, added to the training loss."""
    validation: Annotated[float, Field(gt=0, lt=1)] | PeriodConfig | None = None
    """Share of the training period (its last part) kept out of the training loss as the
    validation split, or (with ``period``) a period of its own, ``{period: [first day,
    last day]}``, starting the day after the training period ends: it chooses the weights
    (``restore_best``), stops early (``patience``) and drives the ``plateau`` schedule.
    Without it nothing is chosen on data: training ends with its last weights, and the
    held-out split is only watched."""
    restore_best: bool = True
    """With a validation split, end with the weights of its best loss (else the last)."""
    starts: int = Field(default=1, ge=1, le=20)
    """HBV models whose parameters a network learns (``model.parameters: attributes`` or
    ``lstm``): trainings from this many random starts of the network (start k draws its
    weights with seed + k), of which the one with the lowest validation loss (training
    loss without ``validation``) is kept. Each start costs a whole training."""
    batch: BatchConfig | None = None
    """Mini-batches of sites × time windows for the Adam steps, ``{sites: 100, days: 730,
    warmup: 365}`` (HBV models; ``null``: every step runs the whole training split)."""
    shooting: ShootingConfig = Field(default_factory=lambda: ShootingConfig())
    """ODE models: multiple shooting of the training loss (``false`` or ``segment: null``:
    one shot over the whole training period)."""
    collocation: bool = True
    """ODE models: before training, fit the neural slots to the rates of change of
    smoothed observations (no ODE solve); skipped where a slot sees unobserved states."""
    calibration: CalibrationConfig = Field(default_factory=lambda: CalibrationConfig())
    """HBV models: global calibration of the parameters (and symbolic constants) before
    gradient training, which then polishes from the calibrated start (by default only
    when the model has values the search does not set, e.g. networks); the better of the
    two is kept. On by default with ``model.parameters: site``; ``false`` turns it off.
    With it on, the hypotheses' searches and the neural variant start from the calibrated
    ``physics`` variant's parameters (when ``model.baseline`` fits it first), and
    with ``reinsert.refit: constants`` the ``symbolic`` variant is calibrated and trained
    like ``physics`` instead of the refit of its constants."""

    @field_validator("shooting", mode="before")
    @classmethod
    def _shooting_switch(cls, value: Any) -> Any:
        if isinstance(value, bool):
            return {} if value else {"segment": None}
        return value

    @field_validator("calibration", mode="before")
    @classmethod
    def _calibration_switch(cls, value: Any) -> Any:
        if isinstance(value, bool):
            return {"enabled": value}
        if isinstance(value, dict) and "enabled" not in value:
            return {**value, "enabled": True}
        return value

    @model_validator(mode="after")
    def _choices_need_validation(self) -> TrainConfig:
        if self.validation is None:
            if self.patience is not None:
                raise ValueError("train.patience: early stopping needs train.validation")
            if self.schedule == "plateau":
                raise ValueError("train.schedule: 'plateau' needs train.validation")
        return self

    @model_validator(mode="after")
    def _split_by_date_or_share(self) -> TrainConfig:
        if self.period is not None and "split" in self.model_fields_set:
            raise ValueError("give train.split (a share) or train.period (dates), not both")
        if isinstance(self.validation, PeriodConfig):
            if self.period is None:
                raise ValueError(
                    "train.validation.period needs train.period (validation by date follows a "
                    "training period given by date)"
                )
            key = "train.validation.period"
            follow_on(key, self.validation.period, "train.period", self.period)
        return self


class DistillConfig(Strict):
    """Symbolic distillation of every neural slot."""

    engine: str = "auto"
    """Symbolic-regression engine: ``auto`` (PySR where Julia is present, else the offline
    ``rational+operon``; with the ``sparse`` engine) or a registered engine's name."""
    time_budget_s: float | None = Field(default=None, gt=0)
    """Wall-clock seconds of the search per slot (``null``: the engine's default). For the
    offline engine a ceiling: each Operon restart ends after its generations
    (``distill.options: {generations: 300}``) or at this time, whichever comes first."""
    samples: int = Field(default=2000, ge=10)
    """Points at which each slot's network is probed over the data for the regression."""
    max_complexity: int = Field(default=15, ge=1)
    """Largest expression size searched (nodes of the expression tree)."""
    operators: list[str] | None = None
    """Operators the search may use, e.g. ``[add, sub, mul, div, exp]`` (``null``: the
    engine's default)."""
    importance_threshold: float | None = Field(default=None, ge=0, lt=1)
    """Drop inputs whose share of mean |SHAP| is below this before regression (``null``:
    keep all)."""
    selection: SelectionConfig = Field(default_factory=SelectionConfig)
    """Which front candidate goes back into the model: a rule name (``selection: bic``)
    or a mapping of the rule and its settings (``selection: {rule: retrain, shortlist:
    2}``)."""
    options: dict[str, Any] = Field(default_factory=dict)
    """Engine-specific settings passed to the engine as they are."""
    workers: int | None = Field(default=None, ge=1)
    """Processes that distill and select the slots side by side, each slot from the same
    trained model (``null``: one per slot, up to the CPUs this process may use; ``1``: one
    slot after another). Ignored, the slots then distilled one after another, for one
    slot, a selection rule that trains models, ``reinsert.refit: all``, a model on a GPU,
    a run shared among processes (``torchrun``), or where this process cannot fork workers
    (no ``fork``, or a daemonic process)."""

    @model_validator(mode="before")
    @classmethod
    def _flat_selection_keys(cls, value: Any) -> Any:
        return fold_flat_selection_keys(value)

    @field_validator("engine")
    @classmethod
    def _known_engine(cls, value: str) -> str:
        from discover.distill.engines import ENGINES

        if value != "auto" and value not in ENGINES:
            raise ValueError(f"unknown engine {value!r}; choose 'auto' or one of {sorted(ENGINES)}")
        return value

    @field_validator("options")
    @classmethod
    def _plain_options(cls, value: dict[str, Any]) -> dict[str, Any]:
        _check_plain(value, "", 0)
        return value


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


class ReinsertConfig(Strict):
    """Putting the selected equations back into the model and refitting them."""

    refit: Literal["constants", "all", "none"] = "constants"
    """``constants``: every slot is distilled from the fitted model, then the equations'
    constants are refitted together; ``all``: slots are distilled one at a time, and after
    each equation replaces its network the whole model (the other networks included) is
    refitted, so the next slot is distilled from a network that has adapted to it;
    ``none``: equations are reinserted with the constants the engine found. Does not
    apply to a selection rule that trains models (``retrain``)."""
    iterations: int = Field(default=200, ge=1)
    """Adam steps of the refit."""
    lr: float = Field(default=1e-2, gt=0)
    """Adam's learning rate in the refit."""
    lbfgs_iterations: int = Field(default=10, ge=0)
    """L-BFGS steps after Adam in the refit (0: none)."""
    alternatives: int = Field(default=0, ge=0)
    """Also reinsert this many other front candidates per slot (best selection score
    first), each as its own variant ``symbolic:<slot>:<complexity>``."""


class HypothesisConfig(Strict):
    """A stated hypothesis: ``slot`` computed by ``expression`` over the slot's inputs.

    Names in the expression that are not inputs of the slot are free constants, fitted
    with the model and starting from ``constants`` (default 1.0); numbers are fixed. In a
    config it may also be written ``"slot = expression"``.
    """

    slot: str
    """The neural slot the hypothesis replaces."""
    expression: ExpressionText
    """The slot's output as an expression in its inputs and free constants."""
    constants: dict[str, float] = Field(default_factory=dict)
    """Starting values of the free constants, name → value (default 1.0)."""

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, value: Any) -> Any:
        if isinstance(value, str):
            slot, sep, expression = value.partition("=")
            if not sep or not slot.strip() or not expression.strip():
                raise ValueError(f"write a hypothesis as 'slot = expression', got {value!r}")
            return {"slot": slot.strip(), "expression": expression.strip()}
        return value


class ValidateConfig(Strict):
    """How variants are scored beyond the temporal hold-out."""

    site_folds: int | None = Field(default=None, ge=2)
    """k-fold over sites: each variant is retrained k times with one fold of sites hidden
    and scored on the hidden sites (split ``sites``); HBV models with several sites."""
