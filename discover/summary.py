"""What ``discover check`` says about a valid study: its model, sites, time span and splits,
read from the data and splits it set up (nothing is trained)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from discover.study import Study

MAX_LISTED_SITES = 10
"""Site ids are listed when there are at most this many sites."""

SPLIT_ORDER = ("warm-up", "train", "validation", "test")


def format_time(value: object) -> str:
    """A time coordinate value as text: a date (``1990-01-31``) or a number (``12.5``)."""
    if isinstance(value, np.datetime64):
        return str(np.datetime_as_string(value, unit="D"))
    return f"{float(value):g}"


def steps_text(n: int) -> str:
    """``1 time step``, ``365 time steps``."""
    return f"{n} time step{'' if n == 1 else 's'}"


def split_ranges(study: Study) -> dict[str, range]:
    """Time-step indices of each split in order: the ``warm-up`` before training (the
    initial condition of an ODE study, the warm-up days of HBV), ``train``, ``validation``
    (with ``train.validation``) and the held-out ``test``."""
    steps = range(len(study.workflow.times_index()))
    slices = study.workflow.split_slices()
    ranges = {"warm-up": steps[: slices["train"].start]}
    ranges.update({name: steps[part] for name, part in slices.items()})
    return {name: ranges[name] for name in SPLIT_ORDER if name in ranges}


def study_summary(study: Study) -> list[str]:
    """Lines describing ``study``: model type with its states (ODE) and observed
    variables, the slots that are not textbook, sites (ids when few), time span and
    steps, and each split's first and last time and number of time steps."""
    workflow, spec = study.workflow, study.config.model
    states = getattr(spec, "states", None)
    kinds = study.model.slot_kinds().items()
    slots = ", ".join(f"{name} ({kind})" for name, kind in kinds if kind != "physical")
    lines = [
        f"model: {spec.type}"
        + (f"; states: {', '.join(states)}" if states else "")
        + f"; observed: {', '.join(workflow.variables)}; learned slots: {slots or 'none'}"
    ]
    sites = [str(site) for site in workflow.sites]
    listed = f" ({', '.join(sites)})" if len(sites) <= MAX_LISTED_SITES else ""
    lines.append(f"sites: {len(sites)}{listed}")
    times = workflow.times_index()
    span = f"{format_time(times[0])} to {format_time(times[-1])}"
    lines.append(f"time: {span}, {steps_text(len(times))}")
    for name, steps in split_ranges(study).items():
        if len(steps):
            span = f"{format_time(times[steps[0]])} to {format_time(times[steps[-1]])}"
            lines.append(f"  {name}: {span} ({steps_text(len(steps))})")
        else:
            lines.append(f"  {name}: none")
    return lines
