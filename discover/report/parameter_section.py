"""The report's section on trained model parameters: each variant's values beside the
parameter's bounds, with those that ended on a bound named (a bound that binds says that
the calibration would have gone further: the bound, the data or the model structure
stops it)."""

from __future__ import annotations

import pandas as pd

from discover.models.hbv_processes import HBV_BOUNDS
from discover.report.context import Context
from discover.report.document import Block, Paragraph, Section, Table
from discover.report.tables import number

AT_BOUND = 0.01
"""A median within this share of a parameter's range from one of its bounds is on it."""


def parameters(ctx: Context) -> Section | None:
    """Median and range over sites of each variant's trained parameters
    (``parameters.csv``); ``None`` for a run without static parameters (ODE models)."""
    table = ctx.run.parameters
    if table is None or table.empty:
        return None
    per_site = table.groupby(["parameter", "variant", "site"], sort=False)["value"].median()
    summary = per_site.groupby(["parameter", "variant"], sort=False).agg(["median", "min", "max"])
    variants = list(dict.fromkeys(table["variant"]))
    names = list(dict.fromkeys(table["parameter"]))
    units = table.groupby("parameter")["unit"].first()
    sites = table["site"].nunique()
    sets = int(table["set"].max()) + 1
    blocks: list[Block] = [
        Paragraph(
            f"Trained parameters in physical units: the median over {sites} site(s)"
            + (f" (each site's median over its {sets} parameter sets)" if sets > 1 else "")
            + (", with the range over sites in brackets." if sites > 1 else ".")
        ),
        Table(
            ("parameter", "unit", "bounds", *variants),
            tuple(
                (name, units.get(name, ""), _bounds(name))
                + tuple(_cell(summary, name, v, sites) for v in variants)
                for name in names
            ),
            caption="Trained parameters of each variant (parameters.csv).",
        ),
    ]
    on_bounds = _on_bounds(summary)
    if on_bounds:
        blocks.append(
            Paragraph(
                "On a bound (median within 1 % of the range from it): "
                + "; ".join(on_bounds)
                + ". A bound that binds means the calibration would have gone further: "
                "the bound, the data or the model structure stops it."
            )
        )
    return Section("Model parameters", "parameters", blocks)


def _bounds(name: str) -> str:
    bound = HBV_BOUNDS.get(name)
    return f"[{bound.low:g}, {bound.high:g}]" if bound else "–"


def _cell(summary: pd.DataFrame, name: str, variant: str, sites: int) -> str:
    if (name, variant) not in summary.index:
        return "–"
    row = summary.loc[(name, variant)]
    if sites == 1:
        return number(row["median"])
    return f"{number(row['median'])} [{number(row['min'])}, {number(row['max'])}]"


def _on_bounds(summary: pd.DataFrame) -> list[str]:
    """``"physics k2 (lower)"`` for each variant's parameter whose median is on a bound."""
    found = []
    for (name, variant), row in summary.iterrows():
        bound = HBV_BOUNDS.get(str(name))
        if bound is None:
            continue
        near = AT_BOUND * (bound.high - bound.low)
        if row["median"] <= bound.low + near:
            found.append(f"{variant} {name} (lower)")
        elif row["median"] >= bound.high - near:
            found.append(f"{variant} {name} (upper)")
    return found
