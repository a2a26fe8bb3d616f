"""Splits of daily data by date: ``train.period``, ``train.validation`` (a share or a
period) and ``test.period`` mapped to exact day indices, checked against the data."""

from __future__ import annotations

from datetime import date

import numpy as np

from discover.config import ConfigError, StudyConfig
from discover.config.periods import PeriodConfig
from discover.workflows.base import time_splits, validation_start


def day_index(times: np.ndarray, day: date, key: str) -> int:
    """Index of ``day`` in the increasing daily dates ``times`` [time] (datetime64).

    Raises:
        ConfigError: naming ``key``, when ``day`` is outside the data or not one of its days.
    """
    first, last = str(times[0])[:10], str(times[-1])[:10]
    target = np.datetime64(day, "D")
    days = times.astype("datetime64[D]")
    index = int(np.searchsorted(days, target))
    if not first <= str(day) <= last:
        raise ConfigError(f"{key}: day {day} is outside the data ({first} to {last})")
    if days[index] != target:
        raise ConfigError(f"{key}: day {day} is not a day of the data ({first} to {last})")
    return index


def date_splits(
    times: np.ndarray, config: StudyConfig, warmup: int
) -> tuple[slice, dict[str, slice]]:
    """The days to simulate and the splits among them, for ``config.train.period``.

    Simulated are the ``warmup`` days before the training period's first day, then every
    day up to the last day of ``test.period`` (the data's last day without it). Returns
    that window of ``times`` [time] and, within it, ``train``, ``validation`` (a share of
    the training period or ``train.validation.period``) and ``test`` as
    :func:`~discover.workflows.base.time_splits` gives them (both ends of every period
    included).

    Raises:
        ConfigError: a period outside the data, fewer than ``warmup`` days of data before
            the training period, or no held-out day.
    """
    train, validation = config.train, config.train.validation
    start = day_index(times, train.period[0], "train.period")
    train_end = day_index(times, train.period[1], "train.period") + 1
    first = start - warmup
    if first < 0:
        raise ConfigError(
            f"model.warmup: {warmup} days before train.period's first day {train.period[0]} "
            f"reach before the data's first day {str(times[0])[:10]} ({start} day(s) there); "
            "start training later, lower model.warmup, or set model.spinup (repeats the "
            "first year before the data)"
        )
    if isinstance(validation, PeriodConfig):
        fit_end = train_end
        held_out = day_index(times, validation.period[1], "train.validation.period") + 1
    else:
        fit_end = validation_start(start, train_end, validation)
        held_out = train_end
    end = len(times)
    if config.test is not None:
        end = day_index(times, config.test.period[1], "test.period") + 1
    if held_out >= end:
        raise ConfigError(
            f"test: no held-out day after {str(times[held_out - 1])[:10]}, the data's last "
            "day; end train.period (or train.validation.period) earlier"
        )
    slices = time_splits(warmup, fit_end - first, held_out - first)
    slices["test"] = slice(slices["test"].start, end - first)
    return slice(first, end), slices
