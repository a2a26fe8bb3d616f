import numpy as np
import pandas as pd
import pytest
from scipy import stats

from discover.validate import compare as c
from discover.validate import metrics as m


def test_wilcoxon_p_is_scipys():
    rng = np.random.default_rng(0)
    a = rng.normal(0.7, 0.1, 25)
    b = a - rng.normal(0.02, 0.05, 25)
    result = c.paired_comparison(a, b, "nse")
    assert result.p_value == pytest.approx(stats.wilcoxon(a, b).pvalue, rel=1e-12)
    assert result.difference == pytest.approx(np.median(a - b))
    assert result.share_a_better == pytest.approx(np.mean(a > b))


def test_bootstrap_ci_contains_true_median_and_is_reproducible():
    rng = np.random.default_rng(1)
    true_shift = 0.05
    b = rng.uniform(0.3, 0.9, 80)
    a = b + true_shift + rng.standard_t(df=3, size=80) * 0.02  # noise with median zero
    first = c.paired_comparison(a, b, "nse", n_boot=2000, seed=7)
    assert first.ci[0] < true_shift < first.ci[1]
    assert c.paired_comparison(a, b, "nse", n_boot=2000, seed=7).ci == first.ci
    assert c.paired_comparison(a, b, "nse", n_boot=2000, seed=8).ci != first.ci


def test_bootstrap_ci_coverage_is_near_nominal():
    rng = np.random.default_rng(2)
    hits = 0
    replicates = 200
    for seed in range(replicates):
        d = 0.1 + rng.normal(size=40)
        low, high = c.bootstrap_median_ci(d, n_boot=400, seed=seed)
        hits += low < 0.1 < high
    assert 0.85 <= hits / replicates <= 0.99


def test_sentence_names_winner_count_and_strength():
    rng = np.random.default_rng(3)
    h0 = rng.uniform(0.4, 0.8, 20)
    h1 = h0 + np.abs(rng.normal(0.06, 0.02, 20))
    h1[:2] = h0[:2] - 0.01  # H0 wins two sites
    result = c.paired_comparison(h0, h1, "NSE", names=("H0", "H1"))
    assert result.winner == "H1"
    assert result.sentence.startswith("H1 beats H0 on 18 of 20 sites; median ΔNSE (H1 − H0) 0.")
    assert result.sentence.endswith("strong evidence for H1.")
    same = c.paired_comparison(h0, h0 + rng.normal(0, 0.05, 20), "NSE", names=("H0", "H1"))
    assert "no clear evidence of a difference" in same.sentence


def test_lower_is_better_metric_picks_the_lower_variant():
    a = np.linspace(1.0, 2.0, 15)
    result = c.paired_comparison(a, a + 0.5, "rmse", higher_is_better=False, names=("A", "B"))
    assert result.winner == "A"
    assert result.share_a_better == 1.0
    assert result.difference == pytest.approx(-0.5)


def test_evidence_wording_rule():
    assert c.evidence(0.001, (0.1, 0.2)) == "strong evidence"
    assert c.evidence(0.001, (-0.1, 0.2)) == "moderate evidence"
    assert c.evidence(0.03, (0.1, 0.2)) == "moderate evidence"
    assert c.evidence(0.07, (0.1, 0.2)) == "weak evidence"
    assert c.evidence(0.5, (0.1, 0.2)) == "no clear evidence"
    assert c.evidence(float("nan"), (0.1, 0.2)) == "no clear evidence"


def test_identical_variants_and_too_few_sites():
    a = np.linspace(0, 1, 10)
    result = c.paired_comparison(a, a, "nse")
    assert result.p_value == 1.0 and result.winner is None
    assert result.sentence.startswith("A and B are level: A better on 0 of 10 sites")
    with pytest.raises(ValueError, match="block_bootstrap_comparison"):
        c.paired_comparison(np.array([0.5, np.nan]), np.array([0.4, 0.3]), "nse")


def test_holm_against_hand_computation():
    assert c.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert c.holm([0.5]) == pytest.approx([0.5])


def test_compare_variants_all_pairs_oriented_and_adjusted():
    rng = np.random.default_rng(4)
    n_time, n_site = 200, 12
    obs = np.exp(rng.normal(size=(n_time, n_site)))
    sims = {
        "physics": obs * 1.3 + rng.normal(0, 0.5, obs.shape),
        "neural": obs + rng.normal(0, 0.2, obs.shape),
        "symbolic": obs * 0.95 + rng.normal(0, 0.25, obs.shape),
    }
    table = m.score_variants(sims, obs)
    result = c.compare_variants(table, ["nse", "pbias"], n_boot=500)
    assert len(result) == 2 * 3
    assert list(result[result.metric == "nse"][["a", "b"]].itertuples(index=False)) == [
        ("physics", "neural"),
        ("physics", "symbolic"),
        ("neural", "symbolic"),
    ]
    assert set(result.metric) == {"nse", "|pbias|"}
    nse = result[result.metric == "nse"]
    assert (nse.p_adjusted >= nse.p_value).all()
    assert nse.p_adjusted.to_numpy() == pytest.approx(c.holm(nse.p_value.to_numpy()))
    physics_vs_neural = nse.iloc[0]
    assert physics_vs_neural.winner == "neural"
    # the difference is stated winner − loser, so its sign reads with the sentence
    assert "ΔNSE (neural − physics) 0." in physics_vs_neural.sentence
    assert physics_vs_neural.difference < 0  # the table keeps a − b
    assert "strong evidence for neural" in physics_vs_neural.sentence
    # |pbias|: smaller distance to zero wins, whatever the sign of the bias.
    bias = result[result.metric == "|pbias|"].iloc[0]
    assert bias.winner == "neural"
    assert "Δ|PBIAS|" in bias.sentence


def test_compare_variants_reports_missing_variant():
    table = pd.DataFrame(
        {"variant": ["a", "a"], "site": ["s1", "s2"], "metric": "nse", "value": [0.1, 0.2]}
    )
    with pytest.raises(ValueError, match="at least two variants"):
        c.compare_variants(table)
    with pytest.raises(ValueError, match=r"variants \['b'\]"):
        c.compare_variants(table, variants=["a", "b"])


def test_circular_block_indices_are_wrapped_runs():
    rng = np.random.default_rng(0)
    index = c.circular_block_indices(10, 4, 3, rng)
    assert index.shape == (3, 10)
    steps = np.diff(index, axis=1) % 10
    within_block = np.ones(9, dtype=bool)
    within_block[[3, 7]] = False  # block boundaries
    assert (steps[:, within_block] == 1).all()
    assert c.default_block_length(1000) == 10
    with pytest.raises(ValueError, match="block_length"):
        c.circular_block_indices(10, 11, 1, rng)


def test_block_bootstrap_one_site():
    rng = np.random.default_rng(5)
    t = np.arange(730)
    obs = 2 + np.sin(2 * np.pi * t / 365) + 0.3 * rng.normal(size=t.size)
    obs[rng.random(t.size) < 0.1] = np.nan
    good = np.nan_to_num(obs) + 0.2 * rng.normal(size=t.size)
    poor = 2 + 0.7 * np.sin(2 * np.pi * t / 365)
    result = c.block_bootstrap_comparison(
        good, poor, obs, "nse", names=("H1", "H0"), block_length=30, n_boot=300, seed=1
    )
    full = m.nse(good, obs) - m.nse(poor, obs)
    assert result.difference == pytest.approx(full)
    assert result.ci[0] < full < result.ci[1]
    assert result.winner == "H1" and result.strength == "strong evidence"
    assert "block 30 steps" in result.sentence
    again = c.block_bootstrap_comparison(
        good, poor, obs, "nse", names=("H1", "H0"), block_length=30, n_boot=300, seed=1
    )
    assert again == result
    same = c.block_bootstrap_comparison(poor, poor, obs, "rmse", n_boot=100)
    assert same.p_value == 1.0 and same.strength == "no clear evidence"


def test_compare_series_all_pairs():
    rng = np.random.default_rng(6)
    obs = rng.gamma(2.0, size=300)
    sims = {k: obs + rng.normal(0, s, 300) for k, s in [("a", 0.1), ("b", 0.5), ("c", 1.0)]}
    result = c.compare_series(sims, obs, ["kge", "fhv"], n_boot=100)
    assert len(result) == 6
    assert set(result.metric) == {"kge", "|fhv|"}
    assert (result.unit == "resamples").all()
