"""Figure functions on edge cases the fabricated runs do not reach."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from discover.report.figures import learned_vs_equations, loss_curves, pareto_front
from discover.report.figures.dependence import dependence
from discover.report.figures.fronts import bic_above_best
from discover.report.rundir import CandidateEntry, SlotSamples


def _samples(n_inputs: int) -> SlotSamples:
    rng = np.random.default_rng(1)
    X = rng.uniform(0, 2, (5000, n_inputs))
    output = np.sin(X).sum(axis=1)
    return SlotSamples(tuple(f"u{i}" for i in range(n_inputs)), X, output, None, {}, None)


def _size(path: Path) -> tuple[int, int]:
    with Image.open(path) as image:
        return image.size


def test_one_input_line_plot_and_many_inputs_without_equation(tmp_path: Path) -> None:
    one = _samples(1)
    curves = {"selected equation": one.X[:, 0] - one.X[:, 0] ** 3 / 6}
    panels = dependence(one.inputs, one.X, one.output, {})
    assert _size(learned_vs_equations("h", one, curves, panels, tmp_path / "one.png"))[0] > 500
    four = _samples(4)
    panels = dependence(four.inputs, four.X, four.output, {})
    path = learned_vs_equations("h", four, {}, panels, tmp_path / "four.png")
    width, height = _size(path)
    assert width > 1000 and height > 600


def test_non_positive_losses_use_a_linear_axis(tmp_path: Path) -> None:
    front = [CandidateEntry("x", 1, 0.0), CandidateEntry("2*x", 3, -1.0)]
    assert pareto_front("h", front, None, None, tmp_path / "p.png").is_file()
    import pandas as pd

    history = pd.DataFrame(
        {"iteration": [1, 2, 3], "train": [1.0, -0.5, -1.0], "test": [np.nan] * 3}
    )
    assert loss_curves(history, tmp_path / "l.png").is_file()


def test_pareto_front_shows_the_selecting_bic_beside_the_loss(tmp_path: Path) -> None:
    front = [CandidateEntry("x", 1, 0.5), CandidateEntry("2*x", 3, 0.1)]
    alone = _size(pareto_front("h", front, front[1], None, tmp_path / "a.png"))
    both = _size(pareto_front("h", front, front[1], None, tmp_path / "b.png", [-3.0, -9.0]))
    assert both[0] > 1.4 * alone[0]
    mismatched = _size(pareto_front("h", front, front[1], None, tmp_path / "c.png", [-3.0]))
    assert mismatched == alone


def test_bic_panel_shows_each_candidate_above_the_best_and_skips_failures() -> None:
    excess = bic_above_best(np.array([-300000.0, -300005.0, np.inf, -299000.0]))
    np.testing.assert_array_equal(excess, [5.0, 0.0, np.inf, 1005.0])
    assert np.isnan(bic_above_best(np.array([np.nan]))).all()
