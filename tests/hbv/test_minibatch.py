"""Mini-batch training (``train.batch``, :mod:`discover.fit.batches`), losses shared by
sites among processes, and the LSTM parameter learner (``model.parameters: lstm``)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import xarray as xr

from discover.config import ConfigError, parse_config
from discover.config.stage_settings import BatchConfig
from discover.fit import objective
from discover.fit.batches import BatchSampler
from discover.fit.trainer import Trainer
from discover.fit.world import World
from discover.models.hbv_processes import FORCINGS
from discover.workflows.hbv import HBVWorkflow
from discover.workflows.hbv_data import load_hbv_dataset

BATCH = {"sites": 2, "days": 160, "warmup": 100}
"""Two of the twin's four sites, 60 scored days after 100 days of warm-up."""


@pytest.fixture(scope="module")
def twin() -> xr.Dataset:
    """A four-site twin of 400 days, made once."""
    return load_hbv_dataset(parse_config(_config()).data, Path("."), seed=0)


def _config(batch: dict | None = None, **model: object) -> dict:
    return {
        "seed": 0,
        "data": {"source": "twin", "sites": 4, "days": 400},
        "model": {"type": "hbv", "warmup": 100, "nmul": 2, **model},
        "train": {
            "split": 0.7,
            "iterations": 16,
            "lr": 0.05,
            "eval_every": 8,
            "checkpoint_every": 8,
            "schedule": "none",
            "batch": batch,
        },
    }


def _workflow(twin: xr.Dataset, batch: dict | None = BATCH, **model: object) -> HBVWorkflow:
    torch.manual_seed(0)
    return HBVWorkflow(parse_config(_config(batch, **model)), Path("."), dataset=twin)


def _by_hand(workflow: HBVWorkflow, sites: torch.Tensor, first: int, warmup: int, end: int):
    """The scaled MSE of ``sites`` over days ``[first + warmup, end)``, mean of per-site
    means, computed without the workflow's loss."""
    days = slice(first, end)
    forcings = {n: getattr(workflow, f"forcing_{n}")[days][:, sites] for n in FORCINGS}
    parameters = workflow.parameters_by_name(sites, days)
    flow = workflow.model(forcings, parameters, warmup=warmup).streamflow
    observed = workflow.flow_seen[first + warmup : end][:, sites]
    errors = ((flow - observed) / workflow.flow_scale[sites]) ** 2
    return torch.stack([column[column.isfinite()].mean() for column in errors.unbind(-1)]).mean()


def test_sampler_draws_in_range_from_the_generator_alone():
    observed = torch.rand(300, 5)
    observed[:, 3] = float("nan")  # a hidden site is never drawn
    sampler = BatchSampler(BatchConfig(sites=3, days=50, warmup=20), slice(30, 200))
    generator = torch.Generator().manual_seed(4)
    state = generator.get_state()
    batches = [sampler.draw(generator, observed) for _ in range(300)]
    firsts = {b.first for b in batches}
    for b in batches:
        sites = b.sites.tolist()
        assert len(sites) == 3 and sites == sorted(set(sites)) and 3 not in sites
        assert 0 <= b.first and b.first + b.warmup == b.scored and b.end - b.first == 50
        assert 30 <= b.scored and b.end <= 200  # scored days inside the training split
    assert min(firsts) < 30 - 10 and max(b.end for b in batches) == 200  # reaches both ends
    generator.set_state(state)
    again = [sampler.draw(generator, observed) for _ in range(300)]
    assert all(
        torch.equal(a.sites, b.sites) and a.first == b.first
        for a, b in zip(batches, again, strict=True)
    )
    assert sampler.epoch(observed) == -(-4 * 170 // (3 * 30))  # 4 observed sites × 170 days
    everyone = BatchSampler(BatchConfig(sites=10, days=50, warmup=20), slice(30, 200))
    assert everyone.draw(generator, observed).sites.tolist() == [0, 1, 2, 4]
    assert everyone.epoch(observed) == -(-170 // 30)


def test_batched_loss_is_the_loss_of_its_sites_and_window(twin):
    workflow = _workflow(twin)
    generator = torch.Generator().manual_seed(7)
    state = generator.get_state()
    loss = workflow.loss("train", generator)
    generator.set_state(state)
    batch = workflow.sampler.draw(generator, workflow.flow_seen)
    assert len(batch.sites) == 2 and batch.warmup == 100
    expected = _by_hand(workflow, batch.sites, batch.first, batch.warmup, batch.end)
    assert torch.allclose(loss, expected, rtol=1e-12)
    assert workflow.batches_per_epoch == -(-4 * 210 // (2 * 60))


def test_whole_period_losses_do_not_change_with_batches(twin):
    batched, whole = _workflow(twin), _workflow(twin, batch=None)
    assert whole.batches_per_epoch is None
    train = whole.split_slices()["train"]
    everyone = torch.arange(4)
    by_hand = _by_hand(whole, everyone, 0, train.start, train.stop)
    assert torch.allclose(whole.loss("train"), by_hand, rtol=1e-12)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        assert torch.equal(whole.loss("train", generator), whole.loss("train"))
        assert torch.equal(batched.loss("train"), whole.loss("train"))  # no generator: whole
        assert torch.equal(batched.loss("test", generator), whole.loss("test"))
        torch.testing.assert_close(
            batched.simulate(), whole.simulate(), rtol=0, atol=0, equal_nan=True
        )


class _Share(World):
    """A process of a world of two that records its part of the mean."""

    parts: list[tuple[float, float]] = []

    def mean(self, value: torch.Tensor, weight: float = 1.0) -> torch.Tensor:
        self.parts.append((float(value.detach()), weight))
        return value


def test_shares_of_the_sites_average_to_the_whole_loss(twin, monkeypatch):
    # whole-period losses share their sites among processes; a drawn batch is each
    # process's own (tests/fit/test_per_process_batches.py)
    workflow = _workflow(twin, None)
    workflow.hide_sites([1])  # a share may hold fewer observed sites than sites
    generator = torch.Generator().manual_seed(3)
    state = generator.get_state()
    _Share.parts = []
    with torch.no_grad():
        expected = float(workflow.loss("train", generator))
        for rank in (0, 1):
            generator.set_state(state)  # every process draws the same batch
            monkeypatch.setattr(objective, "current_world", lambda r=rank: _Share(r, 2))
            workflow.loss("train", generator)
    (a, wa), (b, wb) = _Share.parts
    assert (a * wa + b * wb) / (wa + wb) == pytest.approx(expected, rel=1e-12)


def _trainer(workflow: HBVWorkflow, folder: Path | None = None) -> Trainer:
    settings = workflow.config.train
    return Trainer(workflow, workflow.loss, settings, checkpoint_dir=folder, progress=False)


def test_batched_training_lowers_the_loss_and_resumes_exactly(twin, tmp_path):
    unbroken = _workflow(twin)
    with torch.no_grad():
        before = float(unbroken.loss("train"))
    expected = _trainer(unbroken).fit()
    with torch.no_grad():
        assert float(unbroken.loss("train")) < 0.7 * before
    assert [row["epoch"] for row in expected.history[:2]] == [1 / 7, 2 / 7]

    broken, calls = _workflow(twin), {"n": 0}

    def crashing(split: str, generator: torch.Generator | None) -> torch.Tensor:
        calls["n"] += 1 if split == "train" else 0
        if calls["n"] == 12:
            raise KeyboardInterrupt
        return broken.loss(split, generator)

    trainer = _trainer(broken, tmp_path)
    trainer.loss = crashing
    with pytest.raises(KeyboardInterrupt):
        trainer.fit()
    resumed = _workflow(twin)
    result = _trainer(resumed, tmp_path).fit(resume=True)
    assert result.resumed_from == 11
    assert result.history == expected.history


def test_lstm_learns_daily_parameters_on_windows_and_whole_periods(twin):
    workflow = _workflow(twin, parameters="lstm", dynamic=["beta"], lstm_hidden=8)
    with torch.no_grad():
        values = workflow.parameters_by_name()
    assert values["beta"].shape == (400, 4, 2) and values["fc"].shape == (4, 2)
    assert float(values["beta"].std(0).min()) > 0  # it varies in time
    generator = torch.Generator().manual_seed(1)
    state = generator.get_state()
    loss = workflow.loss("train", generator)
    generator.set_state(state)
    batch = workflow.sampler.draw(generator, workflow.flow_seen)
    by_hand = _by_hand(workflow, batch.sites, batch.first, batch.warmup, batch.end)
    assert torch.allclose(loss, by_hand, rtol=1e-12)
    with torch.no_grad():
        before = float(workflow.loss("train"))
    _trainer(workflow).fit()
    with torch.no_grad():
        assert float(workflow.loss("train")) < 0.8 * before
    assert workflow.simulate().shape == (400, 4, 1)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"train": {"batch": {"days": 100, "warmup": 100}}}, "must exceed train.batch.warmup"),
        ({"train": {"batch": {"sites": 0}}}, "sites"),
        ({"model": {"dynamic": ["beta"]}}, "applies to model.parameters: lstm only"),
        ({"model": {"parameters": "lstm", "dynamic": ["route_scale"]}}, "is not one of"),
        ({"model": {"parameters": "lstm"}, "train": {"calibration": True}}, "per-site"),
    ],
)
def test_bad_keys_are_refused_naming_them(change, message):
    config = _config(BATCH)
    for section, keys in change.items():
        config[section] |= keys
    with pytest.raises(ConfigError, match=message):
        parse_config(config)


def test_batches_need_an_hbv_model():
    config = {
        "data": {"source": "table", "path": "x.csv"},
        "model": {"type": "ode", "states": ["x"], "equations": {"x": "-x"}},
        "train": {"batch": BATCH},
    }
    with pytest.raises(ConfigError, match="train.batch: .* need an hbv model"):
        parse_config(config)


def test_what_the_data_cannot_hold_is_refused(twin):
    with pytest.raises(ConfigError, match="does not fit the training days"):
        _workflow(twin, {"sites": 2, "days": 400, "warmup": 100})
    with pytest.raises(ConfigError, match="model.dynamic: \\['fc'\\]"):
        _workflow(
            twin, parameters="lstm", dynamic=["fc"], neural={"fc": {"inputs": ["forest_fraction"]}}
        )
    bare = twin.drop_vars(
        [n for n, v in twin.data_vars.items() if v.attrs.get("role") == "attribute"]
    )
    with pytest.raises(ConfigError, match="'lstm' needs static attributes"):
        _workflow(bare, parameters="lstm")
