"""Paired tests of ``comparisons.csv`` as verdicts stated winner first, with the
difference written the way the sentence reads: "symbolic beats physics: median
NSE(symbolic) − NSE(physics) = +0.039 [+0.0025, +0.13]"."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from discover.report.figures.common import SPLIT_WORDS
from discover.validate.metrics import DISPLAY_NAMES, ONE_SIDED

CLEAR = ("strong evidence", "moderate evidence")
"""Evidence words (comparisons.csv ``strength``) under which one variant "beats" another."""


@dataclass(frozen=True)
class Verdict:
    """One paired test, oriented so that ``first`` is the variant the data favour.

    Attributes:
        difference: median over sites of ``metric(first) − metric(second)`` (for a block
            bootstrap at one site, the whole-series difference).
        ci: its 95 % interval, in the same orientation.
        tied: the median difference is zero or undefined (no variant favoured).
    """

    split: str
    metric: str
    first: str
    second: str
    difference: float
    ci: tuple[float, float]
    p_value: float
    p_adjusted: float
    n: int | None
    unit: str
    test: str
    strength: str
    tied: bool = False

    @property
    def clear(self) -> bool:
        return not self.tied and self.strength in CLEAR

    def sentence(self) -> str:
        """The verdict in words, e.g. ``symbolic beats physics on the held-out period: ...``."""
        name = DISPLAY_NAMES.get(self.metric, self.metric)
        where = SPLIT_WORDS.get(self.split, self.split)
        if self.tied:
            head = f"{self.first} and {self.second} are level on the {where}"
        elif self.clear:
            head = f"{self.first} beats {self.second} on the {where}"
        else:
            head = (
                f"{self.first} scores ahead of {self.second} on the {where}, but the data do "
                "not separate them"
            )
        median = "median " if self.unit == "sites" else ""
        adjusted = (
            f", Holm-adjusted {plain(self.p_adjusted)}" if math.isfinite(self.p_adjusted) else ""
        )
        over = f" over {self.n} {self.unit}" if self.n else ""
        return (
            f"{head}: {median}{name}({self.first}) − {name}({self.second}) = "
            f"{signed(self.difference)} [{signed(self.ci[0])}, {signed(self.ci[1])}]{over}, "
            f"{self.test} p = {plain(self.p_value)}{adjusted} ({self.strength})."
        )


def signed(value: float) -> str:
    """``+0.0394``: 3 significant digits with an explicit sign."""
    return "–" if not math.isfinite(value) else f"{value:+.3g}"


def plain(value: float) -> str:
    """3 significant digits, ``–`` when undefined."""
    return "–" if not math.isfinite(value) else f"{value:.3g}"


def _number(row: pd.Series, *columns: str) -> float:
    for column in columns:
        if column in row and row[column] is not None and not pd.isna(row[column]):
            return float(row[column])
    return math.nan


def _higher_is_better(metric: str) -> bool:
    """NSE, KGE, r: higher is better; RMSE and distances to an optimum (``|bias|``): lower."""
    return ONE_SIDED.get(metric, False)


def verdict(row: pd.Series) -> Verdict:
    """The verdict of one ``comparisons.csv`` row (``difference`` is of ``a − b``)."""
    a, b, metric = str(row["a"]), str(row["b"]), str(row["metric"])
    difference = _number(row, "difference", "median_difference")
    ci = (_number(row, "ci_low"), _number(row, "ci_high"))
    winner = row.get("winner")
    if not isinstance(winner, str) or winner not in (a, b):
        ahead = (difference > 0) == _higher_is_better(metric)
        winner = None if difference == 0 or math.isnan(difference) else (a if ahead else b)
    flip = winner == b
    n = _number(row, "n", "n_sites")
    return Verdict(
        split=str(row.get("split", "test")),
        metric=metric,
        first=b if flip else a,
        second=a if flip else b,
        difference=-difference if flip else difference,
        ci=(-ci[1], -ci[0]) if flip else ci,
        p_value=_number(row, "p_value"),
        p_adjusted=_number(row, "p_adjusted"),
        n=int(n) if math.isfinite(n) else None,
        unit=str(row.get("unit", "sites")) if not pd.isna(row.get("unit", "sites")) else "sites",
        test=str(row.get("test", "Wilcoxon")) if not pd.isna(row.get("test")) else "Wilcoxon",
        strength=str(row.get("strength", row.get("evidence", ""))),
        tied=winner is None,
    )


def verdicts(comparisons: pd.DataFrame) -> list[Verdict]:
    """Every row of ``comparisons.csv`` as a :class:`Verdict`, in the file's order."""
    return [verdict(row) for _, row in comparisons.iterrows()]


def headline(comparisons: pd.DataFrame, variants: Sequence[str], limit: int = 3) -> list[Verdict]:
    """The verdicts worth stating first: the held-out period (else the first split), NSE
    (else the first metric), pairs with the ``symbolic`` variant first."""
    found = verdicts(comparisons)
    if not found:
        return []
    splits = [v.split for v in found]
    split = "test" if "test" in splits else splits[0]
    metrics = [v.metric for v in found if v.split == split]
    metric = "nse" if "nse" in metrics else metrics[0]
    chosen = [v for v in found if v.split == split and v.metric == metric]
    rank = {name: i for i, name in enumerate(variants)}

    def key(v: Verdict) -> tuple[Any, ...]:
        pair = {v.first, v.second}
        return ("symbolic" not in pair, min(rank.get(n, len(rank)) for n in pair))

    return sorted(chosen, key=key)[:limit]
