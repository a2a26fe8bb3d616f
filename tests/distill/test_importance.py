"""SHAP input ranking of a slot over probed samples."""

import json

import numpy as np
import pytest
import torch

from discover.distill.importance import rank_inputs, shapley_values
from discover.processes import Neural, Physical


def test_shapley_values_of_a_product_by_hand():
    X = np.array([[2.0, 3.0], [1.0, -1.0]])
    background = np.array([[0.5, 1.0]])
    phi, base = shapley_values(lambda Z: Z[:, 0] * Z[:, 1], X, background)
    b0, b1 = background[0]
    x0, x1 = X[:, 0], X[:, 1]
    np.testing.assert_allclose(phi[:, 0], 0.5 * ((x0 * b1 - b0 * b1) + (x0 * x1 - b0 * x1)))
    np.testing.assert_allclose(phi[:, 1], 0.5 * ((b0 * x1 - b0 * b1) + (x0 * x1 - x0 * b1)))
    assert base == pytest.approx(b0 * b1)


@pytest.mark.slow  # shap's explainer takes ~30 s to start here
def test_exact_shapley_values_match_shap_exact_explainer():
    shap = pytest.importorskip("shap")
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (4, 3))
    background = rng.uniform(-1, 1, (8, 3))

    def f(Z):
        return np.tanh(Z[:, 0] * Z[:, 1]) + Z[:, 2] ** 2

    ours, base = shapley_values(f, X, background)
    explainer = shap.explainers.Exact(f, shap.maskers.Independent(background, max_samples=100))
    theirs = explainer(X)
    np.testing.assert_allclose(ours, theirs.values, atol=1e-8)
    assert base == pytest.approx(float(theirs.base_values[0]))
    # efficiency: SHAP values add up to f(x) - base
    np.testing.assert_allclose(ours.sum(axis=1), f(X) - base, atol=1e-10)


def test_ranking_puts_an_ignored_input_last_and_can_drop_it():
    process = Physical(lambda s, p, t: p * torch.clamp(s / 100, max=1.0), ["s", "p", "t"])
    rng = np.random.default_rng(1)
    X = np.column_stack([rng.uniform(0, 150, 500), rng.uniform(0, 10, 500), rng.normal(size=500)])
    ranking = rank_inputs(process, X, background_size=30)
    assert ranking.ranked()[-1][0] == "t"
    assert ranking.mean_abs["t"] == pytest.approx(0.0, abs=1e-9)
    assert ranking.keep(0.05) == ["s", "p"]
    assert ranking.relative()[ranking.ranked()[0][0]] == 1.0


def test_ranking_of_a_neural_slot_is_written_to_the_run_directory(tmp_path):
    torch.manual_seed(0)
    process = Neural(["a", "b"], "[0, 1]")
    X = np.random.default_rng(2).uniform(-1, 1, (300, 2))
    ranking = rank_inputs(process, X, background_size=20)
    json_path, png_path = ranking.write(tmp_path, "recharge")
    data = json.loads(json_path.read_text())
    assert data["slot"] == "recharge"
    assert {entry["input"] for entry in data["ranking"]} == {"a", "b"}
    assert png_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="shape"):
        rank_inputs(process, X[:, :1])
