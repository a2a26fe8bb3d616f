import math

import numpy as np
import pytest
import sympy
from scipy import stats

from discover.validate import parsimony as p


def test_criteria_against_manual_formula():
    n, rss, k = 50, 12.3, 3
    log_l = -n / 2 * (math.log(2 * math.pi) + math.log(rss / n) + 1)
    assert p.gaussian_log_likelihood(n, rss) == pytest.approx(log_l)
    assert p.aic(n, rss, k) == pytest.approx(2 * k - 2 * log_l)
    assert p.bic(n, rss, k) == pytest.approx(k * math.log(n) - 2 * log_l)
    assert p.aicc(n, rss, k) == pytest.approx(2 * k - 2 * log_l + 2 * k * (k + 1) / (n - k - 1))
    with pytest.raises(ValueError, match="n > k"):
        p.aicc(4, 1.0, 3)


def test_log_likelihood_is_the_gaussian_one_at_the_ml_variance():
    rng = np.random.default_rng(0)
    obs = rng.normal(size=(120, 3)) * [1.0, 5.0, 0.2]
    sim = obs + rng.normal(size=obs.shape) * [0.3, 2.0, 0.05]
    obs[::11, 1] = np.nan
    result = p.parsimony_scores(sim, obs, k=4, complexity=7)
    expected = 0.0
    for j in range(3):
        keep = ~np.isnan(obs[:, j])
        residual = sim[keep, j] - obs[keep, j]
        sigma = np.sqrt(np.mean(residual**2))
        expected += stats.norm.logpdf(residual, scale=sigma).sum()
    assert result.log_likelihood == pytest.approx(expected)
    assert result.n == int((~np.isnan(obs)).sum())
    assert result.aic == pytest.approx(2 * 4 - 2 * expected)
    assert result.bic == pytest.approx(4 * math.log(result.n) - 2 * expected)
    assert result.complexity == 7


def test_one_dimensional_series_matches_the_scalar_functions():
    rng = np.random.default_rng(1)
    obs = rng.normal(size=80)
    sim = obs + 0.1 * rng.normal(size=80)
    result = p.parsimony_scores(sim, obs, k=2)
    rss = float(np.sum((sim - obs) ** 2))
    assert result.rss == pytest.approx(rss)
    assert result.aic == pytest.approx(p.aic(80, rss, 2))
    assert result.aicc == pytest.approx(p.aicc(80, rss, 2))


def test_table_ranks_and_weights():
    rng = np.random.default_rng(2)
    obs = rng.normal(size=200)
    simple = p.parsimony_scores(obs + 0.30 * rng.normal(size=200), obs, k=2, complexity=3)
    complex_ = p.parsimony_scores(obs + 0.29 * rng.normal(size=200), obs, k=40, complexity=25)
    table = p.parsimony_table({"complex": complex_, "simple": simple})
    assert table.variant.tolist() == ["simple", "complex"]
    assert table.delta_aic.iloc[0] == 0.0 and table.delta_bic.min() == 0.0
    assert table.akaike_weight.sum() == pytest.approx(1.0)
    assert table.akaike_weight.iloc[1] == pytest.approx(
        np.exp(-table.delta_aic.iloc[1] / 2) / (1 + np.exp(-table.delta_aic.iloc[1] / 2))
    )
    other = p.parsimony_scores(obs[:100], obs[:100] + 1, k=1)
    with pytest.raises(ValueError, match="different numbers of observations"):
        p.parsimony_table({"a": simple, "b": other})


def test_bad_inputs():
    obs = np.arange(10.0)
    with pytest.raises(ValueError, match="all zero at site 0"):
        p.parsimony_scores(obs, obs, k=1)
    with pytest.raises(ValueError, match="k"):
        p.parsimony_scores(obs + 1, obs, k=-1)
    with pytest.raises(ValueError, match="shape"):
        p.parsimony_scores(obs, obs[:5], k=1)
    sim = obs + 1
    sim[3] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        p.parsimony_scores(sim, obs, k=1)


@pytest.mark.parametrize(
    ("text", "k"),
    [
        ("0.86*x*y", 1),
        ("x*y**0.87", 1),  # the exponent was fitted
        ("exp((3.38*y - 12)/(2.67*x + y + 3))", 4),  # 12 and 3 are rounded fits
        ("pet*soil_wetness**2 - x", 0),  # integer exponent and sign belong to the form
        ("sqrt(x)/(1 + x)", 0),
        ("2*x + 0.5", 2),
    ],
)
def test_estimated_constants_count_rounded_integers_but_not_the_form(text, k):
    assert p.estimated_constants(sympy.sympify(text)) == k
