"""End-to-end: reports of fabricated run directories (a full one and a minimal one)."""

from __future__ import annotations

import json
import re
import shutil
from html import escape
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import xarray as xr
import yaml
from PIL import Image

from discover.report import build_report
from discover.run_directory import MARKER

HEADINGS = (
    "Findings",
    "Summary",
    "Question and configuration",
    "Data",
    "Training",
    "Observed and simulated series",
    "Learned processes and equations",
    "Metrics",
    "Hypothesis tests",
    "Equations",
    "Provenance",
)
LATEX = {
    "0.5*x": r"0.5 x",
    "0.8*x*y": r"0.8 x y",
    "x*y/(x + 1.0)": r"\frac{x y}{x + 1.0}",
    "x*y/(x + 1.0) + 0.001*y**2": r"\frac{x y}{x + 1.0} + 0.001 y^{2}",
    "x*y/(1.02*x + 0.99)": r"\frac{x y}{1.02 x + 0.99}",
    "x*y/(1 + x)": r"\frac{x y}{x + 1}",
}


@pytest.fixture(scope="module")
def full_report(full_run: Path) -> str:
    return build_report(full_run).read_text()


@pytest.fixture(scope="module")
def minimal_report(minimal_run: Path) -> str:
    return build_report(minimal_run).read_text()


def test_html_is_self_contained(full_run: Path, full_report: str) -> None:
    sources = re.findall(r'src="([^"]*)"', full_report)
    images = [s for s in sources if s.startswith("data:image/png;base64,")]
    assert all(s in images or s.startswith("https://") for s in sources)
    assert len(images) == len(list((full_run / "figures").glob("*.png"))) >= 8
    assert not re.search(r'href="(?!#|https?://)', full_report)


def test_html_has_every_section_equation_sentence_and_engine(
    full_report: str, planted: SimpleNamespace
) -> None:
    for heading in HEADINGS:
        assert f">{heading}</h2>" in full_report
    assert {text for text, _, _ in planted.front} <= set(LATEX)
    for text, latex in LATEX.items():
        assert escape(latex) in full_report, text
        assert escape(text) in full_report
    for sentence in planted.verdicts:
        assert escape(sentence) in full_report
    assert "engine auto fell back to the offline engine rational+operon" in full_report
    assert escape(planted.fallback) in full_report
    assert f"Selection rule: {escape(planted.rule)}." in full_report
    assert "<td>12.2</td>" in full_report
    assert f"Slot G was not distilled: {planted.g_failure}" in full_report
    assert "best, median and worst NSE of variant symbolic on split test" in full_report
    assert "1 of 2 checks passed" in full_report
    assert "could not be drawn" not in full_report


def test_markdown_references_existing_figures(full_run: Path, full_report: str) -> None:
    markdown = (full_run / "report.md").read_text()
    for heading in HEADINGS:
        assert f"\n## {heading}\n" in markdown
    referenced = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", markdown)
    assert len(referenced) >= 8
    assert all((full_run / path).is_file() for path in referenced)
    assert sorted(Path(p).name for p in referenced) == sorted(
        p.name for p in (full_run / "figures").glob("*.png")
    )
    assert f"${LATEX['x*y/(x + 1.0)']}$" in markdown
    assert f"$$ F\\left(x, y\\right) = {LATEX['x*y/(1 + x)']} $$" in markdown


def test_figures_open_and_are_not_blank(full_run: Path, full_report: str) -> None:
    names = {p.stem for p in (full_run / "figures").glob("*.png")}
    assert {"loss", "series_flow", "slot_F", "slot_G", "pareto_F", "shap_F", "scores_flow"} <= names
    for path in (full_run / "figures").glob("*.png"):
        with Image.open(path) as image:
            width, height = image.size
            pixels = np.asarray(image.convert("L"), dtype=float)
        assert width >= 500 and height >= 200, path.name
        assert pixels.std() > 10, f"{path.name} looks blank"


def test_minimal_run_says_what_is_missing(minimal_run: Path, minimal_report: str) -> None:
    for heading in HEADINGS:
        assert f">{heading}</h2>" in minimal_report
    assert (
        "distillation did not run, so every learned slot stays a neural network" in minimal_report
    )
    assert "distilled into equations: none" in minimal_report
    assert "Slot F was not distilled: distillation did not run." in minimal_report
    assert "slots/F.nc was not written" not in minimal_report
    assert (
        "comparisons.csv not written, so this report lacks the hypothesis tests" in minimal_report
    )
    assert "NSE and KGE at the only site" in minimal_report
    figures = {p.stem for p in (minimal_run / "figures").glob("*.png")}
    assert figures == {"loss", "series_flow", "series_storage", "scores_flow", "scores_storage"}
    markdown = (minimal_run / "report.md").read_text()
    assert all((minimal_run / p).is_file() for p in re.findall(r"\]\((figures/[^)]+)\)", markdown))


def test_rebuild_replaces_stale_figures_and_tolerates_a_broken_optional_file(
    full_run: Path, tmp_path: Path
) -> None:
    run = shutil.copytree(full_run, tmp_path / "run")
    (run / "figures" / "stale.png").write_bytes(b"old")
    drawn = sorted(p.relative_to(run).as_posix() for p in (run / "figures").glob("*.png"))
    (run / MARKER).write_text(json.dumps({"discover": "0", "files": drawn}))  # all ours
    (run / "equations.json").write_text("{not json")
    (run / "simulations.nc").unlink()
    html = build_report(run).read_text()
    assert "simulations.nc not written, so this report lacks the data summary" in html
    assert not (run / "figures" / "series_flow.png").exists()
    assert not (run / "figures" / "stale.png").exists()
    assert "equations.json unreadable" in html
    assert not (run / "figures" / "pareto_F.png").exists()
    assert (run / "figures" / "slot_F.png").exists()


def test_numeric_time_axis(minimal_run: Path, tmp_path: Path) -> None:
    run = shutil.copytree(minimal_run, tmp_path / "run")
    simulations = xr.load_dataset(run / "simulations.nc")
    simulations = simulations.assign_coords(time=np.arange(simulations.sizes["time"]) * 0.1)
    simulations.to_netcdf(run / "simulations.nc")
    html = build_report(run).read_text()
    assert "Time: 0 to 19.9, 200 steps; 1 site(s)." in html
    assert (run / "figures" / "series_flow.png").is_file()


def test_retrain_selection_shows_its_shortlist(full_run: Path, tmp_path: Path) -> None:
    run = shutil.copytree(full_run, tmp_path / "run")
    provenance = json.loads((run / "provenance.json").read_text())
    provenance["engines"]["F"]["shortlist"] = [
        {"complexity": 7, "expression": "x*y/(x + 1.0)", "loss": 1e-4, "validation_error": 0.031,
         "p_worse": float("nan"), "seconds": 55.7},
        {"complexity": 11, "expression": "x*y/(x + 1.0) + 0.001*y**2", "loss": 9e-5,
         "validation_error": 0.029, "p_worse": 0.42, "seconds": 57.1},
    ]  # fmt: skip
    (run / "provenance.json").write_text(json.dumps(provenance))
    build_report(run)
    markdown = (run / "report.md").read_text()
    assert "p (worse than best)" in markdown
    rows = [line for line in markdown.splitlines() if "| 55.7 |" in line or "| 57.1 |" in line]
    assert len(rows) == 2
    assert "best" in rows[0] and "selected" in rows[0]  # the front's selected x*y/(x + 1.0)
    assert "0.42" in rows[1] and "selected" not in rows[1]


@pytest.mark.parametrize("restore_best", [True, False])
def test_loss_caption_says_which_weights_were_kept(
    full_run: Path, tmp_path: Path, restore_best: bool
) -> None:
    run = shutil.copytree(full_run, tmp_path / "run")
    history = pd.read_csv(run / "history.csv")
    history["validation"] = history["test"]
    history.to_csv(run / "history.csv", index=False)
    config = yaml.safe_load((run / "config.yaml").read_text())
    config["train"]["restore_best"] = restore_best
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    build_report(run)
    markdown = (run / "report.md").read_text()
    kept_last = "the last weights were kept: train.restore_best is off" in markdown
    assert kept_last is not restore_best
    assert ("best validation loss, whose weights were kept" in markdown) is restore_best


def test_question_table_states_each_slots_recorded_output_range(
    full_run: Path, full_report: str
) -> None:
    markdown = (full_run / "report.md").read_text()
    rows = {
        line.split("`")[1]: line
        for line in markdown.splitlines()
        if "| [16" in line or "| [32" in line
    }
    # G's config declares none; its probed samples record the range the model held it in
    assert "| [0, 2] |" in rows["G(x)"]
    assert "| >=0 |" in rows["F(x, y)"]  # F's samples record none: the config's declaration


def test_a_training_without_steps_is_said_not_plotted(full_run: Path, tmp_path: Path) -> None:
    run = shutil.copytree(full_run, tmp_path / "run")
    (run / "history.csv").write_text("iteration,train,validation,test,lr\n")
    provenance = json.loads((run / "provenance.json").read_text())
    provenance.setdefault("training", {})["stopped"] = "calibrated start; no gradient training"
    (run / "provenance.json").write_text(json.dumps(provenance))
    build_report(run)
    markdown = (run / "report.md").read_text()
    assert "took no gradient training step (calibrated start; no gradient training)" in markdown
    assert "loss.png" not in markdown  # no empty loss plot
