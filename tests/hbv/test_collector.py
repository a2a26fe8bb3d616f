"""Python's cyclic collector around an HBV run: paused during it, enabled again after it,
the run's surviving tensors out of the youngest generation, a caller's frozen objects
left frozen."""

from __future__ import annotations

import gc

import torch

from discover.models.hbv import HBV
from discover.models.hbv_processes import HBV_BOUNDS


def run(model: HBV, days: int = 300):
    gen = torch.Generator().manual_seed(0)
    forcings = {
        "precipitation": torch.rand(days, 2, generator=gen) * 10,
        "temperature": torch.randn(days, 2, generator=gen) * 5,
        "pet": torch.rand(days, 2, generator=gen) * 3,
    }
    parameters = {
        n: torch.full((2, 1), (HBV_BOUNDS[n].low + HBV_BOUNDS[n].high) / 2)
        for n in model.parameter_names()
    }
    return model(forcings, parameters)


def test_the_run_s_records_leave_the_youngest_generation_and_the_collector_resumes():
    model = HBV(smooth=1.0)
    gc.collect()
    out = run(model)  # keeps thousands of daily tensors alive
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0
    records = out.fluxes._days  # the daily records, not scanned by a young collection
    assert any(o is records for o in gc.get_objects(generation=2))
    assert out.fluxes["evapotranspiration"].shape == (300, 2, 1)  # still readable


def test_a_paused_collector_stays_paused_and_frozen_objects_stay_frozen():
    model = HBV(smooth=1.0)
    gc.disable()
    try:
        run(model)
        assert not gc.isenabled()
    finally:
        gc.enable()
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        run(model)
        assert gc.get_freeze_count() >= frozen > 0
    finally:
        gc.unfreeze()
