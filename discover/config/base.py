"""What every config section shares: the error, the strict base model, the size limits
and the vetted field types."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from discover.errors import UserError
from discover.expressions import vet_expression

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


class Strict(BaseModel):
    """Base of every section: unknown keys are refused, every float must be finite
    (``.inf``, ``.nan``, ``1.0e+400`` are refused naming the key), and each field's
    docstring is its description (printed by :mod:`discover.config.reference`)."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=False,
        populate_by_name=True,
        allow_inf_nan=False,
        use_attribute_docstrings=True,
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
