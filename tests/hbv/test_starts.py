"""Several random starts of a parameter network (``train.starts``): each start draws the
network's weights as a network built afresh would, and the best start is kept."""

from __future__ import annotations

import logging
import re

import pytest
import torch

from discover.models.parameters import AttributeMLP, ForcingLSTM
from discover.stages.train import train
from tests.hbv.test_calibrated_training import config_of
from tests.hbv.test_calibration import twin_workflow

NAMES = ["fc", "beta", "k1"]


@pytest.mark.parametrize(
    "build",
    [
        lambda: AttributeMLP(4, NAMES, nmul=3, hidden=(8, 8), seed=2),
        lambda: ForcingLSTM(3, NAMES, nmul=3, hidden=8, dynamic=["beta"], n_static=2, seed=2),
    ],
    ids=["attributes", "lstm"],
)
def test_a_redrawn_network_is_the_network_built_afresh_from_that_seed(build):
    torch.manual_seed(7)
    afresh = build()
    redrawn = build()
    redrawn.redraw(7)
    assert all(
        torch.equal(value, redrawn.state_dict()[name])
        for name, value in afresh.state_dict().items()
    )
    redrawn.redraw(8)
    changed = [
        n for n, v in afresh.state_dict().items() if not torch.equal(v, redrawn.state_dict()[n])
    ]
    assert changed and all("weight" in n or "bias" in n for n in changed)


def test_the_start_with_the_lowest_training_loss_is_kept(caplog):
    workflow = twin_workflow(sites=3, parameters="attributes")
    settings = config_of(workflow, starts=3, iterations=3, calibration=False).train
    with caplog.at_level(logging.INFO, logger="discover"):
        result = train(workflow, settings, seed=0, progress=False)
    losses = [float(x) for x in re.findall(r"start \d of 3\): train loss (\S+)", caplog.text)]
    assert len(losses) == 3 and len(set(losses)) == 3  # three different starts
    best = losses.index(min(losses))
    assert result.stopped.startswith(f"start {best + 1} of 3 kept")
    with torch.no_grad():
        assert float(workflow.loss("train")) == pytest.approx(min(losses), rel=1e-4)  # as logged


def test_one_start_is_plain_gradient_training():
    one, gradient = (twin_workflow(sites=2, parameters="attributes") for _ in range(2))
    settings = config_of(one, iterations=2, calibration=False).train
    train(one, settings, seed=0, progress=False)
    train(gradient, settings, seed=0, progress=False, strategy="gradient")
    assert all(
        torch.equal(value, gradient.state_dict()[name]) for name, value in one.state_dict().items()
    )
