"""Keeping a refitted equation inside its declared output range.

A reinserted equation passes the range test as it was selected (:mod:`discover.stages.
in_range`), but refitting its constants in the model (calibration, gradient training) can
move it out: the model clips it into the range, and clipping has no gradient outside it.
Gradient training adds the out-of-range excess to the training loss
(:class:`~discover.processes.symbolic.RangeExcess`), which pulls the constants back, but a
penalty only keeps the excess small, not zero: an equation that sits on an end of its
range by construction (``max(0.5·pet + 0.4, …) − 0.4`` is 0 at ``pet = 0``) leaves it
after any step that breaks the cancellation. :func:`keep_in_range` therefore tests the
refitted equation with the checks' range test (:func:`~discover.validate.checks.
range_checks`) on the inputs the model gave it, and when it fails while the constants it
started from pass, takes back as little as it can: first one constant held at its
starting value while the others keep their refitted values (the constant that moved least
first), else the constants along the straight line towards the starting ones, to the
largest share of the refit's move that passes (bisection), the starting constants
themselves when no share does. The model's other parameters were trained with the
refitted constants, so the less is taken back, the better they still fit: on Fulda the
factor of ``c·pet·soil_wetness^b``, refitted to 1.044 (``b`` 0.318), held at 1.0 gave test
NSE 0.832, the whole line back to the distilled constants 0.793. Passing also asks that,
at those inputs, the equation lie no further beyond its range than with the starting
constants: the range test allows a relative 1e-6, which would let the model clip an
equation kept a rounding error outside.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from discover.processes.symbolic import Symbolic
from discover.validate.checks import Bounds, range_checks, sampled_domain

BISECTIONS = 30
"""Halvings of the share of the refit's move that is searched (resolution 1e-9)."""


@dataclass(frozen=True)
class RangeGuard:
    """What :func:`keep_in_range` did to a refitted equation that left its range.

    Attributes:
        refitted: the equation as refitted (outside its range).
        why: the first failing range check of the refitted equation.
        share: share of the refit's move from the starting constants that was kept
            (0: the starting constants; 1 with a constant ``held``).
        kept: the equation kept (inside its range).
        held: index of the one constant held at its starting value while the others
            keep their refitted ones, if that sufficed.
    """

    refitted: str
    why: str
    share: float
    kept: str
    held: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def sentence(self) -> str:
        """One line for a report."""
        if self.held is not None:
            kept = "one constant was held at the value it was reinserted with, the others kept"
        elif self.share == 0:
            kept = "the constants it was reinserted with were restored"
        else:
            kept = f"{self.share:.3g} of the refit's move of its constants was kept"
        return f"the refitted {self.refitted} left its range ({self.why}); {kept}: {self.kept}."


def keep_in_range(
    process: Symbolic,
    inputs: np.ndarray,
    known: Bounds | None = None,
    seed: int = 0,
) -> RangeGuard | None:
    """Put ``process``'s constants back inside its declared range, if they left it.

    The constants kept pass the range test and, at ``inputs``, lie no further beyond the
    range than the starting constants do (so that the model clips them no more than it
    clips those: an equation at an end of its range by construction is not kept a
    rounding error outside it).

    Args:
        process: a symbolic process whose constants were refitted from
            :attr:`~discover.processes.symbolic.Symbolic.start`.
        inputs: the inputs it was evaluated at [n, len(process.inputs)], in its order
            (e.g. recorded over a simulation).
        known: bounds the model holds inputs in (:attr:`~discover.models.base.
            HybridModel.input_bounds`).
        seed: seed of the range test's random points.

    Returns:
        What was done, or ``None`` when nothing was: the range is unbounded, the refitted
        equation stays in it, or the starting constants leave it too.
    """
    if not process.output_range.bounded or inputs.size == 0:
        return None
    domain, bounds = sampled_domain(process, inputs, process.inputs, known)
    relative = process.module.relative
    refitted, start = relative.detach().clone(), process.start.to(relative)
    _set(relative, start)
    allowed = excess(process, inputs)

    def failure() -> str | None:
        failed = [
            r for r in range_checks(process, domain, bounds=bounds, seed=seed) if not r.passed
        ]
        if failed:
            return f"{failed[0].region}: {failed[0].sentence}"
        beyond = excess(process, inputs)
        return (
            f"{beyond:.3g} beyond its range where the model evaluated it"
            if beyond > allowed
            else None
        )

    start_passes = failure() is None
    _set(relative, refitted)
    why = failure()
    if why is None or not start_passes:
        return None
    refitted_text = str(process.expression(4))
    share, held = _take_back(relative, start, refitted, failure)
    guard = RangeGuard(refitted_text, why, share, str(process.expression(4)), held=held)
    process.range_guard = guard
    return guard


def _set(relative: torch.Tensor, values: torch.Tensor) -> None:
    with torch.no_grad():
        relative.copy_(values)


def _take_back(
    relative: torch.Tensor,
    start: torch.Tensor,
    refitted: torch.Tensor,
    failure: Callable[[], str | None],
) -> tuple[float, int | None]:
    """Set ``relative`` to the least move back from ``refitted`` towards ``start`` that
    ``failure`` passes: one constant held at its start (the one that moved least first),
    else the largest share of the straight line kept (bisection; 0 is ``start``, which
    passes). Returns ``(share, held)``."""
    for i in sorted(range(len(start)), key=lambda i: float((refitted[i] - start[i]).abs())):
        trial = refitted.clone()
        trial[i] = start[i]
        _set(relative, trial)
        if failure() is None:
            return 1.0, i
    inside, outside = 0.0, 1.0
    for _ in range(BISECTIONS):
        middle = (inside + outside) / 2
        _set(relative, start + middle * (refitted - start))
        if failure() is None:
            inside = middle
        else:
            outside = middle
    _set(relative, start + inside * (refitted - start))
    return inside, None


def excess(process: Symbolic, inputs: np.ndarray) -> float:
    """Largest distance (output units) by which ``process``'s unclipped output lies
    beyond its declared range at ``inputs`` [n, len(process.inputs)]; 0 inside."""
    points = {name: torch.as_tensor(inputs[:, i]) for i, name in enumerate(process.inputs)}
    with torch.no_grad():
        values = process.module({k: v.to(process.start.dtype) for k, v in points.items()})
        values = torch.broadcast_to(values.double(), inputs.shape[:1])
        beyond = (values - process.output_range.clamp(values, points)).abs()
    return float(np.nanmax(beyond.cpu().numpy(), initial=0.0))
