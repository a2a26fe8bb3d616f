"""Shared look of the report's figures: size, fonts, variant colours, labels, saving.

Figures are built on :class:`matplotlib.figure.Figure` directly (no pyplot state, no
interactive backend) and saved as PNG with a constrained layout, so text does not overlap.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import ParamSpec, TypeVar

import matplotlib
from matplotlib.figure import Figure

DPI = 110
STYLE = {
    "font.size": 10,
    "axes.titlesize": 10,
    "axes.labelsize": 10,
    "legend.fontsize": 9,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "axes.grid": True,
    "grid.alpha": 0.3,
}

SPLIT_WORDS = {
    "test": "held-out period",
    "sites": "held-out sites (k-fold)",
    "train": "training period",
    "validation": "validation period",
}
"""How the report names each split in sentences, titles and legends."""

MAIN_VARIANTS = ("physics", "neural", "symbolic")
"""Variants drawn first and always in the same colour."""

_FIXED_COLOURS = {"physics": "#4c72b0", "neural": "#dd8452", "symbolic": "#55a868"}
_OTHER_COLOURS = ("#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c", "#ccb974", "#64b5cd")

P = ParamSpec("P")
R = TypeVar("R")


def styled(function: Callable[P, R]) -> Callable[P, R]:
    """Run a figure function under the report's matplotlib style."""

    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with matplotlib.rc_context(STYLE):
            return function(*args, **kwargs)

    return wrapper


def new_figure(width: float, height: float) -> Figure:
    """A figure of ``width`` x ``height`` inches with a constrained layout."""
    return Figure(figsize=(width, height), layout="constrained")


def save(figure: Figure, path: Path) -> Path:
    """Write ``figure`` as PNG to ``path`` (folders created) and return ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=DPI)
    return path


def axis_label(name: str, units: str | None) -> str:
    """``"discharge [mm/d]"``, or the bare name when the units are unknown."""
    return f"{name} [{units}]" if units else name


def slug(name: str) -> str:
    """A file-name-safe form of a slot, variable or variant name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "unnamed"


def ordered_variants(variants: Sequence[str], limit: int | None = None) -> list[str]:
    """The main variants first (in :data:`MAIN_VARIANTS` order), then the others as given;
    at most ``limit`` of them."""
    unique = list(dict.fromkeys(variants))
    ordered = [v for v in MAIN_VARIANTS if v in unique] + [
        v for v in unique if v not in MAIN_VARIANTS
    ]
    return ordered if limit is None else ordered[:limit]


def variant_colours(variants: Sequence[str]) -> dict[str, str]:
    """A colour per variant: fixed for the main ones, a cycle for the others."""
    others = iter(_OTHER_COLOURS * (1 + len(variants) // len(_OTHER_COLOURS)))
    return {v: _FIXED_COLOURS[v] if v in _FIXED_COLOURS else next(others) for v in variants}


def shorten(text: str, width: int = 48) -> str:
    """``text`` cut to ``width`` characters with an ellipsis."""
    return text if len(text) <= width else text[: width - 1] + "…"
