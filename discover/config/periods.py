"""Periods of dated data: ``[first day, last day]``, both days included, for splits by
date (``train.period``, ``train.validation.period``, ``test.period``)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

from pydantic import AfterValidator, Field

from discover.config.base import Strict


def _ordered(days: list[date]) -> list[date]:
    if days[0] > days[1]:
        raise ValueError(f"the first day {days[0]} is after the last day {days[1]}")
    return days


DatePeriod = Annotated[list[date], Field(min_length=2, max_length=2), AfterValidator(_ordered)]
"""``[first day, last day]`` (ISO dates, both included)."""


class PeriodConfig(Strict):
    """A period of dated data: ``period: [first day, last day]``, both days included."""

    period: DatePeriod
    """First and last day of the period (``YYYY-MM-DD``), both included."""


def follow_on(key: str, days: list[date], previous_key: str, previous: list[date]) -> None:
    """Refuse period ``days`` (named ``key``) unless it starts the day after period
    ``previous`` ends: periods of a study follow each other, without overlap or gap.

    Raises:
        ValueError: naming both keys and the day the later period must start on.
    """
    expected = previous[1] + timedelta(days=1)
    if days[0] == expected:
        return
    span = f"{previous_key} ({previous[0]} to {previous[1]})"
    if days[0] <= previous[0]:
        problem = f"starts {days[0]}, before {span}"
    elif days[0] <= previous[1]:
        problem = f"starts {days[0]}, inside {span}: periods must not overlap"
    else:
        problem = (
            f"starts {days[0]}, leaving a gap after {previous_key} ends {previous[1]} (those "
            "days would be simulated but scored in no split)"
        )
    raise ValueError(f"{key} {problem}; start it on {expected}")
