import math

import pytest
import torch
from torch import nn

from discover.config import TrainConfig
from discover.fit.checkpoints import load_checkpoint, save_checkpoint
from discover.fit.losses import masked_mse
from discover.fit.trainer import Trainer


class Decay(nn.Module):
    """Fit y = a*exp(-k t) to noisy data: a small problem with random mini-batches."""

    def __init__(self):
        super().__init__()
        self.a = nn.Parameter(torch.tensor(0.5, dtype=torch.float64))
        self.k = nn.Parameter(torch.tensor(0.1, dtype=torch.float64))
        gen = torch.Generator().manual_seed(1)
        self.t = torch.linspace(0, 4, 80, dtype=torch.float64)
        self.y = 2.0 * torch.exp(-0.7 * self.t) + 0.01 * torch.randn(80, generator=gen)

    def loss(self, split, generator):
        idx = torch.arange(60) if split == "train" else torch.arange(60, 80)
        if generator is not None:
            idx = idx[torch.randperm(len(idx), generator=generator)[:20]]
        sim = self.a * torch.exp(-self.k * self.t[idx])
        return masked_mse(sim[:, None], self.y[idx, None])


def config(**kw):
    """Decay's loss serves its last 20 points for any split but ``train``."""
    base = dict(
        iterations=120,
        lr=0.05,
        eval_every=5,
        checkpoint_every=10,
        lbfgs_iterations=3,
        validation=0.25,
    )
    return TrainConfig(**(base | kw))


def test_without_a_validation_split_the_held_out_loss_is_watched_and_chooses_nothing():
    model = Decay()
    asked = []

    def loss(split, generator):
        asked.append(split)
        return model.loss(split, generator)

    result = Trainer(model, loss, config(validation=None), progress=False).fit()
    assert "validation" not in asked and "test" in asked
    assert result.best_iteration == -1 and math.isinf(result.best_val)
    assert all("validation" not in row for row in result.history)
    last = Decay()
    Trainer(last, last.loss, config(validation=None, restore_best=False), progress=False).fit()
    assert (model.a.item(), model.k.item()) == (last.a.item(), last.k.item())


@pytest.mark.parametrize("choice", [{"patience": 3}, {"schedule": "plateau"}])
def test_choices_on_data_need_a_validation_split(choice):
    with pytest.raises(ValueError, match="needs train.validation"):
        TrainConfig(**choice)


def test_training_recovers_parameters():
    model = Decay()
    result = Trainer(model, model.loss, config(), progress=False).fit()
    assert result.stopped in ("iterations", "converged")  # neither diverged nor stopped early
    assert model.a.item() == pytest.approx(2.0, abs=0.02)
    assert model.k.item() == pytest.approx(0.7, abs=0.02)
    assert result.best_val < 1e-3


class Crash(Exception):
    pass


@pytest.mark.parametrize("crash_at", [37, 121])  # during Adam, during L-BFGS
def test_killed_run_resumes_to_the_same_end(tmp_path, crash_at):
    unbroken = Decay()
    expected = Trainer(unbroken, unbroken.loss, config(), progress=False).fit()

    calls = {"n": 0}
    broken = Decay()

    def crashing_loss(split, generator):
        if split == "train":
            calls["n"] += 1
            if calls["n"] == crash_at:
                raise Crash
        return broken.loss(split, generator)

    with pytest.raises(Crash):
        Trainer(broken, crashing_loss, config(), checkpoint_dir=tmp_path, progress=False).fit()
    resumed_model = Decay()
    trainer = Trainer(resumed_model, resumed_model.loss, config(), checkpoint_dir=tmp_path)
    trainer.progress = False
    result = trainer.fit(resume=True)
    assert result.resumed_from is not None and result.resumed_from > 0
    assert result.final_train == pytest.approx(expected.final_train, abs=1e-6, rel=0)
    assert result.best_val == pytest.approx(expected.best_val, abs=1e-12, rel=1e-9)
    assert resumed_model.a.item() == pytest.approx(unbroken.a.item(), abs=1e-9)


def test_early_stopping_and_divergence():
    model = Decay()
    result = Trainer(model, model.loss, config(patience=2, lr=1e-6), progress=False).fit()
    assert result.stopped == "early stopping" or result.best_iteration > 0

    model = Decay()

    def exploding(split, generator):
        loss = model.loss(split, generator)
        return loss * math.inf if split == "train" and model.a.item() > 1.0 else loss

    result = Trainer(model, exploding, config(), progress=False).fit()
    assert result.stopped == "diverged"
    assert math.isfinite(model.a.item()) and model.a.item() <= 1.2


def test_masked_mse_skips_nan_and_weighs_variables_alike():
    sim = torch.tensor([[1.0, 10.0], [2.0, 20.0], [3.0, 30.0]])
    obs = torch.tensor([[1.0, float("nan")], [float("nan"), 22.0], [4.0, 30.0]])
    loss = masked_mse(sim, obs, scale=torch.tensor([1.0, 2.0]))
    assert loss.item() == pytest.approx(((0 + 1) / 2 + (1 + 0) / 2) / 2)
    with pytest.raises(ValueError, match="no finite observation"):
        masked_mse(sim, torch.full_like(sim, float("nan")))


def test_checkpoints_are_atomic_and_load_without_code(tmp_path):
    path = tmp_path / "ck.pt"
    save_checkpoint({"w": torch.ones(2), "n": 3}, path)
    assert load_checkpoint(path)["n"] == 3
    assert [p.name for p in tmp_path.iterdir()] == ["ck.pt"]

    class Evil:
        def __reduce__(self):
            return (print, ("executed",))

    torch.save({"evil": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(ValueError, match="cannot read checkpoint"):
        load_checkpoint(tmp_path / "evil.pt")


def test_failed_lbfgs_line_search_keeps_the_last_good_weights():
    model = Decay()
    calls = {"lbfgs": 0}

    def poisoned(split, generator):
        loss = model.loss(split, generator)
        if split == "train" and generator is None:  # only the L-BFGS stage asks for all data
            calls["lbfgs"] += 1
            if calls["lbfgs"] == 3:  # a non-finite trial point inside the line search
                return loss * float("nan")
        return loss

    result = Trainer(model, poisoned, config(restore_best=False), progress=False).fit()
    assert result.stopped == "converged"
    assert math.isfinite(model.a.item()) and math.isfinite(result.final_train)
    assert model.a.item() == pytest.approx(2.0, abs=0.05)
