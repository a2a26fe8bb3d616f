import numpy as np
import pytest
from scipy import stats

from discover.validate import metrics as m


@pytest.fixture
def series():
    rng = np.random.default_rng(3)
    obs = np.exp(rng.normal(size=200))
    sim = obs * 0.9 + rng.normal(scale=0.2, size=200) + 0.1
    return sim, obs


def test_nse_perfect_mean_and_formula(series):
    sim, obs = series
    assert m.nse(obs, obs) == pytest.approx(1.0)
    assert m.nse(np.full_like(obs, obs.mean()), obs) == pytest.approx(0.0, abs=1e-12)
    manual = 1 - np.sum((sim - obs) ** 2) / np.sum((obs - obs.mean()) ** 2)
    assert m.nse(sim, obs) == pytest.approx(manual)


def test_missing_observations_are_skipped_not_filled(series):
    sim, obs = series
    gappy = obs.copy()
    gappy[::7] = np.nan
    sim_with_gaps = sim.copy()
    sim_with_gaps[::7] = np.nan  # sim may be anything where obs are missing
    keep = ~np.isnan(gappy)
    expected = m.compute_metrics(sim[keep], obs[keep], streamflow=True)
    got = m.compute_metrics(sim_with_gaps, gappy, streamflow=True)
    assert got == pytest.approx(expected)


def test_kge_and_parts_against_manual_computation(series):
    sim, obs = series
    result = m.kge(sim, obs)
    r = stats.pearsonr(sim, obs).statistic
    alpha = np.std(sim) / np.std(obs)
    beta = np.mean(sim) / np.mean(obs)
    assert result.r == pytest.approx(r)
    assert result.alpha == pytest.approx(alpha)
    assert result.beta == pytest.approx(beta)
    assert result.kge == pytest.approx(
        1 - np.sqrt((r - 1) ** 2 + (alpha - 1) ** 2 + (beta - 1) ** 2)
    )
    assert m.kge(obs, obs).kge == pytest.approx(1.0)


def test_rmse_bias_pbias(series):
    sim, obs = series
    assert m.rmse(sim, obs) == pytest.approx(np.sqrt(np.mean((sim - obs) ** 2)))
    assert m.bias(obs + 0.5, obs) == pytest.approx(0.5)
    assert m.pbias(obs * 1.2, obs) == pytest.approx(20.0)


def test_fhv_top_two_percent():
    obs = np.arange(1.0, 101.0)
    assert m.fhv(obs * 1.1, obs) == pytest.approx(10.0)
    # Only the top 2 of 100 flows count: halving the others changes nothing.
    sim = obs.copy()
    sim[:98] *= 0.5
    sim[98:] = [120.0, 130.0]
    assert m.fhv(sim, obs) == pytest.approx(100 * (250.0 - 199.0) / 199.0)
    # Flow duration curves: the timing of flows does not matter.
    assert m.fhv(np.random.default_rng(0).permutation(obs), obs) == pytest.approx(0.0)


def test_flv_in_log_space():
    obs = np.linspace(1.0, 10.0, 100)
    # A constant factor shifts log flows only: the low segment's shape is unchanged.
    assert m.flv(3.0 * obs, obs) == pytest.approx(0.0, abs=1e-9)
    # Squaring doubles every log distance to the minimum flow: -100 * (2 - 1) / 1.
    assert m.flv(obs**2, obs) == pytest.approx(-100.0)
    low = np.sort(obs)[:30]
    manual = -100 * (np.sum(np.log(low**2) - np.log(low[0] ** 2)) - np.sum(np.log(low / low[0])))
    assert m.flv(obs**2, obs) == pytest.approx(manual / np.sum(np.log(low / low[0])))


def test_compute_metrics_names(series):
    sim, obs = series
    assert set(m.compute_metrics(sim, obs, streamflow=True)) == set(m.metric_names(True))
    assert "fhv" not in m.compute_metrics(sim, obs, streamflow=False)
    assert m.metric("rmse", sim, obs) == pytest.approx(m.rmse(sim, obs))


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="same length"):
        m.nse(np.ones(20), np.ones(21))
    with pytest.raises(ValueError, match=r"\[time, site\]"):
        m.score_sites(np.ones((20, 2)), np.ones((20, 3)))


def test_all_missing_obs_names_the_site():
    obs = np.random.default_rng(0).random((30, 3))
    obs[:, 1] = np.nan
    with pytest.raises(ValueError, match="all missing.*site 'b'"):
        m.score_sites(obs, obs, sites=["a", "b", "c"])


def test_too_few_points_and_bad_sim():
    obs = np.arange(12.0)
    obs[:5] = np.nan
    with pytest.raises(ValueError, match="only 7 valid observations"):
        m.nse(obs, obs)
    assert m.nse(np.arange(12.0), obs, min_points=5) == pytest.approx(1.0)
    sim = np.arange(12.0)
    sim[8] = np.inf
    with pytest.raises(ValueError, match="sim is NaN or infinite at 1 time steps"):
        m.nse(sim, obs, min_points=5)


def test_constant_obs_gives_nan_with_a_warning_naming_the_site():
    obs = np.ones((20, 2))
    obs[:, 0] = np.linspace(0, 1, 20)
    with pytest.warns(m.MetricWarning, match="constant.*site 'flat'"):
        table = m.score_sites(obs + 0.1, obs, sites=["ok", "flat"])
    values = table.set_index(["site", "metric"])["value"]
    assert np.isnan(values["flat", "nse"]) and np.isnan(values["flat", "kge"])
    assert np.isfinite(values["ok", "nse"])
    assert values["flat", "kge_beta"] == pytest.approx(1.1)


def test_score_sites_and_medians():
    rng = np.random.default_rng(1)
    obs = rng.random((50, 4)) + 0.5
    sims = {"good": obs + 0.01 * rng.normal(size=obs.shape), "bad": obs[::-1]}
    table = m.score_variants(sims, obs, sites=list("wxyz"), streamflow=True)
    assert list(table.columns) == ["variant", "site", "metric", "value"]
    assert len(table) == 2 * 4 * len(m.metric_names(True))
    medians = m.median_scores(table).set_index(["variant", "metric"])
    good_nse = table.query("variant == 'good' and metric == 'nse'")["value"]
    assert medians.loc[("good", "nse"), "median"] == pytest.approx(np.median(good_nse))
    assert medians.loc[("good", "nse"), "n_sites"] == 4
    assert medians.loc[("good", "nse"), "median"] > medians.loc[("bad", "nse"), "median"]
