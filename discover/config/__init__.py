"""Typed, validated run configuration (YAML).

A wrong key or value fails at once with :class:`ConfigError`, whose message names the
key, e.g. ``model.neural.F.inputs: ...``. Every key, its type, default and meaning:
``docs/config.md`` (made by ``python -m discover.config.reference``).

Hostile or careless input is bounded here, before anything is built: every float must be
finite, seeds fit numpy's 32 bits, networks and twins have a maximum size, adaptive solver
tolerances a minimum, every equation string is vetted by
:func:`discover.expressions.vet_expression`, and the YAML file itself may not repeat a key
or use aliases (see :func:`load_config`).

Modules: :mod:`~discover.config.base` (the error, the strict base model, limits),
:mod:`~discover.config.data_and_model` (``data``, ``model``),
:mod:`~discover.config.stage_settings` (``train``, ``distill``, ``reinsert``,
``hypotheses``, ``validate``), :mod:`~discover.config.selection` (``distill.selection``),
:mod:`~discover.config.study_config` (:class:`StudyConfig` and the checks across
sections), :mod:`~discover.config.loading` (the YAML reader) and
:mod:`~discover.config.reference` (``docs/config.md``).
"""

from discover.config.base import (
    MAX_CONFIG_BYTES,
    MAX_HIDDEN,
    MAX_LAYERS,
    MAX_OPTIONS_DEPTH,
    MIN_TOLERANCE,
    ConfigError,
    ExpressionText,
    HiddenSizes,
)
from discover.config.data_and_model import (
    DataConfig,
    HBVModelConfig,
    NeuralSlotConfig,
    ODEModelConfig,
    SolverConfig,
    StateBounds,
)
from discover.config.loading import load_config, parse_config
from discover.config.selection import FLAT_SELECTION_KEYS, SelectionConfig
from discover.config.stage_settings import (
    DistillConfig,
    HypothesisConfig,
    ReinsertConfig,
    ShootingConfig,
    TrainConfig,
    ValidateConfig,
)
from discover.config.study_config import MODEL_TYPES, RESERVED_VARIANTS, StudyConfig

__all__ = [
    "FLAT_SELECTION_KEYS",
    "MAX_CONFIG_BYTES",
    "MAX_HIDDEN",
    "MAX_LAYERS",
    "MAX_OPTIONS_DEPTH",
    "MIN_TOLERANCE",
    "MODEL_TYPES",
    "RESERVED_VARIANTS",
    "ConfigError",
    "DataConfig",
    "DistillConfig",
    "ExpressionText",
    "HBVModelConfig",
    "HiddenSizes",
    "HypothesisConfig",
    "NeuralSlotConfig",
    "ODEModelConfig",
    "ReinsertConfig",
    "SelectionConfig",
    "ShootingConfig",
    "SolverConfig",
    "StateBounds",
    "StudyConfig",
    "TrainConfig",
    "ValidateConfig",
    "load_config",
    "parse_config",
]
