"""What each physical check of ``checks.json`` tested, in words (its criterion), so that a
passed check says what passed (the criteria are those of :mod:`discover.validate.checks`,
with its default settings)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

CRITERIA = {
    "finite": "the equation is finite (no NaN or infinity) at every point",
    "range": "every output lies within the slot's declared output range",
    "limits": (
        "on every edge of the input box the output is finite, within the declared range and "
        "at most 10 times the largest |output| on the visited points"
    ),
    "monotone": "the output moves in the declared direction along sweeps of the input",
    "clipped": (
        "in the model, at most 0.1 % of the equation's evaluations had to be clipped into "
        "its declared range"
    ),
    "refit": (
        "the constants refitted in the model keep the equation within its declared range "
        "(else as little of the refit as needed was taken back)"
    ),
}
REGIONS = {
    "visited": "on the probed samples (the domain the model visited)",
    "extrapolated": "on the visited box widened on each side (extrapolation)",
    "model": "in the model's simulations",
}


def _parts(result: Mapping[str, Any]) -> tuple[str, str | None]:
    """``(check, region)``; older files write the region into the name: ``limits (visited)``."""
    check = str(result.get("check", ""))
    region = result.get("region")
    if region is None and check.endswith(")") and " (" in check:
        check, region = check[:-1].split(" (", 1)
    return check, None if region is None else str(region)


def criterion(result: Mapping[str, Any]) -> str:
    """What the check ``result`` tested and where."""
    check, region = _parts(result)
    kind = check.split(" ", 1)[0]
    tested = CRITERIA.get(kind, check)
    if kind == "monotone" and " in " in check:
        tested = tested.replace("the input", check.split(" in ", 1)[1])
    where = REGIONS.get(region or "", f"on region {region}" if region else "")
    return f"{tested} {where}".strip()


def check_sentence(result: Mapping[str, Any]) -> str:
    """``limits: tested that ...: passed; outputs on the edges span [0, 6.38].``"""
    check, _ = _parts(result)
    outcome = "passed" if result.get("passed") else "failed"
    found = str(result.get("sentence", "")).strip()
    return f"{check}: tested that {criterion(result)}: {outcome}" + (f"; {found}" if found else ".")
