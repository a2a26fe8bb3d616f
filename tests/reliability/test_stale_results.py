"""A run that fails part-way leaves no results that could pass for its own."""

import pytest

from discover.study import Study


def test_a_failed_rerun_leaves_no_results_of_the_earlier_run(lv_case, tmp_path, monkeypatch):
    config, write = lv_case
    config["train"].update(iterations=4, lbfgs_iterations=0)
    config["distill"] = None
    out = tmp_path / "run"
    Study.from_config(write(config), out=out).run(progress=False)
    assert (out / "metrics.json").exists()

    config["seed"] = 1
    rerun = Study.from_config(write(config), out=out)

    def fail() -> None:
        raise RuntimeError("validation failed")

    monkeypatch.setattr(rerun, "site_metrics", fail)  # the first step of validation
    with pytest.raises(RuntimeError, match="validation failed"):
        rerun.run(progress=False)
    assert not (out / "metrics.json").exists()
    assert not (out / "report.html").exists()
