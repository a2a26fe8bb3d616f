"""What ``discover`` prints: progress bars named by stage and variant, warnings as one line,
the summary of ``discover check`` and the labelled headline of a finished run."""

import json
import logging
import subprocess
import sys
from contextlib import nullcontext
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from tqdm import tqdm

from discover.cli import headline, main, rounded
from discover.stages.site_folds import validate_sites
from discover.study import Study

HBV_TWIN = {
    "name": "hbv_check",
    "data": {"source": "twin", "sites": 6, "days": 400},
    "model": {"type": "hbv", "warmup": 100, "neural": {"evapotranspiration": {"inputs": ["pet"]}}},
    "train": {"split": 0.6, "validation": 0.25},
}


class Bars:
    """Stands in for the trainer's ``tqdm``: records each bar's settings, shows none."""

    def __init__(self):
        self.made: list[dict] = []

    def __call__(self, *args, **kwargs):
        self.made.append(kwargs)
        return tqdm(*args, **{**kwargs, "disable": True})

    def shown(self) -> list[str]:
        return [bar["desc"] for bar in self.made if not bar["disable"]]


@pytest.fixture
def bars(monkeypatch) -> Bars:
    recorder = Bars()
    monkeypatch.setattr("discover.fit.trainer.tqdm", recorder)
    return recorder


@pytest.fixture(scope="module")
def retrained_run(tmp_path_factory, make_case):
    """The fast Lotka–Volterra study with a hypothesis, selection by retraining, run with
    progress bars: ``(run directory, recorded bars)``."""
    folder = tmp_path_factory.mktemp("lv")
    config, write = make_case(folder)
    config["train"]["validation"] = 0.2
    config["distill"]["selection"] = {"rule": "retrain", "shortlist": 2}
    config["hypotheses"] = {"H1": "F = c*x*y"}
    recorder = Bars()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("discover.fit.trainer.tqdm", recorder)
        Study.from_config(write(config), out=folder / "run").run(progress=True)
    return folder / "run", recorder


def test_every_training_bar_names_its_stage_and_variant(retrained_run):
    run, recorder = retrained_run
    shown = recorder.shown()
    assert shown[:2] == ["training H1", "training neural"]
    trained = json.loads((run / "provenance.json").read_text())["engines"]
    for slot in ("F", "G"):
        rows = trained[slot]["shortlist"]
        expected = [f"training symbolic:{slot}:{row['complexity']}" for row in rows]
        assert [d for d in shown if d.startswith(f"training symbolic:{slot}:")] == expected
    assert "training" not in shown  # no bar is left unnamed
    # a bar inside another one (a candidate's inside the selection's) does not stay
    assert all(bar["leave"] is None for bar in recorder.made)


def test_headline_labels_the_selected_equation_with_its_trained_constants(retrained_run):
    run, _ = retrained_run
    equations = json.loads((run / "equations.json").read_text())
    lines = headline(run)
    for slot, entry in equations.items():
        trained = rounded(entry["refitted"], entry["inputs"])
        assert f"{slot} (selected, trained): {trained}" in lines
        assert trained != rounded(entry["selected"]["expression"], entry["inputs"])


def test_refit_bar_follows_the_discover_log_level(lv_case, bars, caplog):
    config, write = lv_case
    study = Study.from_config(write(config))
    study.fit(progress=False)
    study.distill("F")
    with caplog.at_level(logging.INFO, logger="discover"):
        study.reinsert("F")
    assert bars.shown() == ["refitting F"]
    with caplog.at_level(logging.WARNING, logger="discover"):
        study.refit("symbolic")
    assert bars.made[-1]["desc"] == "refitting symbolic" and bars.made[-1]["disable"]


def test_site_fold_bars_name_the_fold_and_the_variant():
    asked = []

    def train_variant(variant, held, folder, resume, progress, description):
        asked.append(description)
        return SimpleNamespace(simulate=lambda: torch.zeros(4, 3, 1)), None

    study = SimpleNamespace(
        config=SimpleNamespace(validate_=SimpleNamespace(site_folds=3), seed=0),
        workflow=SimpleNamespace(sites=["a", "b", "c"]),
        simulations={"neural": np.zeros((4, 3, 1))},
        timings=lambda name: nullcontext(),
        train_variant=train_variant,
    )
    validate_sites(study, resume=False, progress=True)
    assert asked == [f"site fold {i}/3 neural" for i in (1, 2, 3)]


def _stderr_of(code: str) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-W", "always", "-c", code], capture_output=True, text=True, check=True
    )
    return result.stderr.splitlines()


def test_cli_shows_a_metric_warning_as_one_line_naming_variable_and_site():
    lines = _stderr_of(
        "import numpy as np\n"
        "from discover.cli import one_line_warnings\n"
        "from discover.validate.metrics import nse\n"
        "with one_line_warnings():\n"
        "    nse(np.arange(12.0), np.ones(12), label='streamflow (test), site syn_003')\n"
        "nse(np.arange(12.0), np.ones(12), label='x')\n"
    )
    warned = [line for line in lines if "NSE is undefined" in line]
    assert warned[0].startswith("warning: ") and "streamflow (test), site syn_003" in warned[0]
    assert warned[0].endswith("(MetricWarning)")
    # outside the CLI, Python's own format (file, line, then the source line) is kept
    assert "MetricWarning" in warned[1] and warned[1].startswith(("/", "<"))
    assert len(lines) == 3  # one line for the CLI's warning, two for Python's


def test_discover_check_warns_in_one_line(lv_case, tmp_path):
    config, write = lv_case
    config["distill"]["selection_alpha"] = 0.05  # a deprecated key: a FutureWarning
    path = write(config)
    result = subprocess.run(
        [sys.executable, "-W", "always", "-m", "discover.cli", "check", str(path)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    warned = [line for line in result.stderr.splitlines() if "selection_alpha" in line]
    assert len(warned) == 1 and warned[0].startswith("warning: distill.selection_alpha")


def _splits(out: str) -> dict[str, tuple[str, str, int]]:
    found = {}
    for line in out.splitlines():
        name, _, rest = line.strip().partition(": ")
        if line.startswith("  ") and " to " in rest:
            span, _, size = rest.partition(" (")
            first, last = span.split(" to ")
            found[name] = (first, last, int(size.split()[0]))
    return found


def test_check_summarises_the_lotka_volterra_data(lv_case, tmp_path, capsys):
    config, write = lv_case
    config["train"]["validation"] = 0.2
    assert main(["check", str(write(config))]) == 0
    out = capsys.readouterr().out
    data = pd.read_csv(tmp_path / "data.csv")
    times = [f"{t:g}" for t in data["t"]]
    assert "model: ode; states: x, y; observed: x, y" in out
    assert "sites: 1" in out
    assert f"time: {times[0]} to {times[-1]}, {len(times)} time steps" in out
    splits = _splits(out)
    assert list(splits) == ["warm-up", "train", "validation", "test"]
    assert sum(size for _, _, size in splits.values()) == len(times)
    position = 0  # the splits follow each other without gap or overlap
    for first, last, size in splits.values():
        assert (times[position], times[position + size - 1]) == (first, last)
        position += size


def test_check_summarises_an_hbv_twin(tmp_path, capsys):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(HBV_TWIN))
    assert main(["check", str(path)]) == 0
    out = capsys.readouterr().out
    data = HBV_TWIN["data"]
    assert "model: hbv; observed: streamflow; learned slots: evapotranspiration (neural)" in out
    sites = next(line for line in out.splitlines() if line.startswith("sites: "))
    assert sites.startswith(f"sites: {data['sites']} (") and sites.count(",") == data["sites"] - 1
    assert f", {data['days']} time steps" in out
    splits = _splits(out)
    assert list(splits) == ["warm-up", "train", "validation", "test"]
    assert splits["warm-up"][2] == HBV_TWIN["model"]["warmup"]
    assert sum(size for _, _, size in splits.values()) == data["days"]
    assert pd.Timestamp(splits["train"][0]) - pd.Timestamp(splits["warm-up"][1]) == pd.Timedelta(
        days=1
    )
