"""A run that fails part-way leaves no results that could pass for its own: the earlier
run's results stay whole and unchanged, and its own stay out of the run directory."""

import pytest

from discover.study import Study


def test_a_failed_rerun_leaves_the_earlier_results_as_they_were(lv_case, tmp_path, monkeypatch):
    config, write = lv_case
    config["train"].update(iterations=4, lbfgs_iterations=0)
    config["distill"] = None
    out = tmp_path / "run"
    Study.from_config(write(config), out=out).run(progress=False)
    earlier = {name: (out / name).read_bytes() for name in ("metrics.json", "report.html")}

    config["seed"] = 1
    rerun = Study.from_config(write(config), out=out)

    def fail() -> None:
        raise RuntimeError("validation failed")

    monkeypatch.setattr(rerun, "site_metrics", fail)  # the first step of validation
    with pytest.raises(RuntimeError, match="validation failed.*previous results .* untouched"):
        rerun.run(progress=False)
    assert {name: (out / name).read_bytes() for name in earlier} == earlier
    assert "seed: 0" in (out / "config.yaml").read_text()
