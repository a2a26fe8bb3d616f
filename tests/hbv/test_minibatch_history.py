"""history.csv of a run directory carries the ``epoch`` of mini-batch training
(``train.batch``), and no such column without it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from discover.config import parse_config
from discover.fit.trainer import Trainer
from discover.rundir import RunWriter
from discover.workflows.hbv import HBVWorkflow


def _history(folder: Path, batch: dict | None) -> tuple[pd.DataFrame, int | None]:
    """history.csv of 6 Adam steps on a four-site twin, and the batches per epoch."""
    config = parse_config(
        {
            "seed": 0,
            "data": {"source": "twin", "sites": 4, "days": 400},
            "model": {"type": "hbv", "warmup": 100, "nmul": 2},
            "train": {"split": 0.7, "iterations": 6, "eval_every": 3, "batch": batch},
        }
    )
    torch.manual_seed(0)
    workflow = HBVWorkflow(config, Path("."))
    result = Trainer(workflow, workflow.loss, config.train, seed=0, progress=False).fit()
    RunWriter(folder).history(result)
    return pd.read_csv(folder / "history.csv"), workflow.batches_per_epoch


@pytest.mark.parametrize("batch", [{"sites": 2, "days": 160, "warmup": 100}, None])
def test_history_csv_has_the_epoch_of_mini_batch_training(tmp_path, batch):
    history, per_epoch = _history(tmp_path, batch)
    columns = ["iteration", "train", "validation", "test", "lr"]
    if batch is None:
        assert per_epoch is None and list(history.columns) == columns
        return
    assert list(history.columns) == [*columns, "epoch"]
    assert per_epoch is not None and per_epoch > 1
    np.testing.assert_allclose(history["epoch"], history["iteration"] / per_epoch)
    assert history["test"].notna().sum() == 2  # evaluated every 3 of the 6 steps
