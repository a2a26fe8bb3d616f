"""Whole-period runs without gradients in chunks of sites (memory-bounded evaluation of
large studies): the same simulation and losses as one run over every site."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from discover.config import parse_config
from discover.workflows import hbv as hbv_workflow
from discover.workflows.hbv import HBVWorkflow

CONFIG = {
    "seed": 0,
    "data": {"source": "twin", "sites": 5, "days": 300},
    "model": {"type": "hbv", "warmup": 60, "nmul": 2, "parameters": "attributes"},
    "train": {"split": 0.7, "validation": 0.3},
}


@pytest.fixture
def workflow() -> HBVWorkflow:
    torch.manual_seed(0)
    return HBVWorkflow(parse_config(CONFIG), Path("."))


def test_chunked_runs_equal_one_run(workflow, monkeypatch):
    with torch.no_grad():
        whole = workflow.simulate()
        losses = {split: workflow.loss(split) for split in ("train", "validation", "test")}
        batch = workflow._whole(workflow.warmup, workflow.flow.shape[0])
        assert workflow._site_chunks(batch) == [slice(0, 5)]
        # a budget of two sites' records: chunks of 2, 2 and 1 sites
        per_site = 300 * 2 * hbv_workflow.RECORDED_SERIES * workflow.flow.element_size()
        monkeypatch.setattr(hbv_workflow, "RUN_BYTES", 2 * per_site)
        assert workflow._site_chunks(batch) == [slice(0, 2), slice(2, 4), slice(4, 5)]
        torch.testing.assert_close(workflow.simulate(), whole, equal_nan=True)
        for split, loss in losses.items():
            torch.testing.assert_close(workflow.loss(split), loss)
    # with gradients (training), one run: a loss to differentiate is never split
    assert workflow._site_chunks(batch) == [slice(0, 5)]
    workflow.loss("train").backward()


def test_a_split_without_observations_is_an_error(workflow):
    workflow.hide_sites(list(range(5)))
    with torch.no_grad(), pytest.raises(ValueError, match="no finite observation"):
        workflow.loss("test")
