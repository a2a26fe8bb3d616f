import numpy as np
import pytest
import torch

from discover.processes import Neural, Physical, Symbolic
from discover.validate.checks import check_function, range_checks, sampled_domain


def _result(report, check, region):
    (found,) = [r for r in report.results if r.check == check and r.region == region]
    return found


@pytest.fixture
def probed():
    rng = np.random.default_rng(0)
    return {"soil": rng.uniform(0.05, 0.95, 400), "pet": rng.uniform(0.1, 5.0, 400)}


def test_well_behaved_symbolic_process_passes(probed):
    process = Symbolic("pet * soil**0.5", ["soil", "pet"], output_range=">=0")
    report = check_function(
        process,
        probed,
        monotone={"soil": 1, "pet": 1},
        bounds={"soil": (0.0, 1.0), "pet": (0.0, None)},
    )
    assert report.passed, str(report)
    assert report.extrapolated["soil"] == (0.0, 1.0)  # clipped at the physical bounds
    assert report.extrapolated["pet"][1] > probed["pet"].max()
    assert {r.check for r in report.results} == {
        "finite",
        "range",
        "monotone in soil",
        "monotone in pet",
        "limits",
    }
    assert "PASS [extrapolated] range" in str(report)


def test_catches_a_function_leaving_its_range_beyond_the_domain():
    report = check_function(lambda p: 1.2 * p["x"] - 0.1, {"x": (0.1, 0.8)}, "[0, 1]")
    assert _result(report, "range", "visited").passed
    outside = _result(report, "range", "extrapolated")
    assert not outside.passed
    assert "leave [0, 1]" in outside.sentence
    assert not _result(report, "limits", "extrapolated").passed
    assert not report.passed and outside in report.failures


def test_catches_a_non_monotone_function():
    report = check_function(
        lambda p: (p["x"] - 0.5) ** 2 + p["y"],
        {"x": (0, 1), "y": (0, 1)},
        monotone={"x": 1, "y": 1},
    )
    bad = _result(report, "monotone in x", "visited")
    assert not bad.passed and "not increasing" in bad.sentence
    assert _result(report, "monotone in y", "visited").passed
    decreasing = check_function(lambda p: -p["x"], {"x": (0, 1)}, monotone={"x": -1})
    assert decreasing.passed


def test_catches_nan_beyond_the_domain_unless_bounds_keep_it_out():
    report = check_function(lambda p: np.sqrt(p["x"]), {"x": (0.5, 2.0)})
    assert _result(report, "finite", "visited").passed
    nan = _result(report, "finite", "extrapolated")
    assert not nan.passed and "NaN or inf" in nan.sentence
    bounded = check_function(lambda p: np.sqrt(p["x"]), {"x": (0.5, 2.0)}, bounds={"x": (0, None)})
    assert bounded.passed


def test_limits_flag_blow_up_beyond_the_domain():
    report = check_function(lambda p: np.exp(p["x"]), {"x": (0.0, 10.0)}, growth=10.0)
    assert _result(report, "limits", "visited").passed
    blow_up = _result(report, "limits", "extrapolated")
    assert not blow_up.passed and "more than 10 x" in blow_up.sentence


def test_visited_points_are_the_joint_samples():
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 1, 300)
    y = rng.uniform(0, 1, 300) * (1 - x)  # visited domain: the triangle x + y <= 1

    def root(p):
        return np.sqrt(1 - p["x"] - p["y"])

    report = check_function(root, {"x": x, "y": y})
    assert _result(report, "finite", "visited").passed
    assert "300 points" in _result(report, "finite", "visited").sentence
    assert not _result(report, "finite", "extrapolated").passed


def test_processes_in_float32_and_reproducibility(probed):
    torch.manual_seed(0)
    neural = Neural(["soil", "pet"], output_range="[0, 1]")
    report = check_function(neural, probed, seed=3)
    assert _result(report, "range", "extrapolated").passed  # bounded by construction
    assert report == check_function(neural, probed, seed=3)
    physical = Physical(
        lambda soil, pet, lp: pet * torch.clamp(soil / lp, max=1.0),
        ["soil", "pet"],
        parameters={"lp": 0.6},
        output_range=">=0",
    )
    bounds = {"soil": (0.0, None), "pet": (0.0, None)}
    assert check_function(physical, probed, monotone={"soil": 1}, bounds=bounds).passed
    # Without bounds the extrapolated box reaches negative pet, where the output is < 0.
    unbounded = check_function(physical, probed, monotone={"soil": 1})
    assert not _result(unbounded, "range", "extrapolated").passed


def test_clear_errors(probed):
    process = Symbolic("pet * soil", ["soil", "pet"])
    with pytest.raises(ValueError, match=r"missing \['pet'\]"):
        check_function(process, {"soil": probed["soil"]})
    with pytest.raises(ValueError, match="unknown input 'rain'"):
        check_function(process, probed, monotone={"rain": 1})
    with pytest.raises(ValueError, match=r"\+1 or -1"):
        check_function(process, probed, monotone={"soil": 2})
    with pytest.raises(ValueError, match="low <= high"):
        check_function(lambda p: p["x"], {"x": (2.0, 1.0)})
    with pytest.raises(ValueError, match="returned shape"):
        check_function(lambda p: np.ones(3), {"x": (0.0, 1.0)})


def test_report_table():
    report = check_function(lambda p: p["x"], {"x": (0.0, 1.0)}, "[0, 1]", {"x": 1})
    table = report.to_frame()
    assert list(table.columns) == ["check", "region", "passed", "sentence"]
    assert len(table) == len(report.results) == 8
    assert table.passed.tolist().count(False) == 2  # range and limits beyond [0, 1]


def test_the_checks_extrapolate_no_input_beyond_the_bounds_the_model_holds_it_in():
    # pet*(0.5*SW + 0.5) stays <= pet exactly while soil wetness SW <= 1
    process = Symbolic(
        "pet*(0.5*soil_wetness + 0.5)", ["pet", "soil_wetness"], output_range="0 <= out <= pet"
    )
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.uniform(0.1, 5.0, 400), rng.uniform(0.05, 0.95, 400)])
    names = ["pet", "soil_wetness"]
    for known, passes in [(None, False), ({"soil_wetness": (0.0, 1.0)}, True)]:
        domain, bounds = sampled_domain(process, X, names, known)
        assert all(r.passed for r in range_checks(process, domain, bounds=bounds)) is passes
    # a bound below what was visited does not shrink the box under the samples
    _, bounds = sampled_domain(process, X, names, {"soil_wetness": (None, 0.5)})
    assert bounds["soil_wetness"] == (0.0, pytest.approx(X[:, 1].max()))
