"""Reading run directories: typed contents, required files, clear errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from discover.report import RunDirectoryError, load_run
from discover.report.__main__ import main


def test_full_run_is_read_with_types(full_run: Path, planted: SimpleNamespace) -> None:
    run = load_run(full_run)
    assert run.slots == ["F", "G"]
    f = run.equations["F"]
    assert f.selected is not None and f.selected.complexity == 7
    assert [c.complexity for c in f.pareto] == [3, 5, 7, 11]
    assert f.refitted == "x*y/(1.02*x + 0.99)"
    assert run.equations["G"].error == planted.g_failure and run.equations["G"].selected is None
    assert run.samples["F"].X.shape == (400, 2)
    assert run.samples["G"].inputs == ("x",)
    assert run.samples["F"].output_units == "mm/d"
    assert run.samples["F"].input_units == {"x": "mm", "y": "mm"}
    assert run.importance["F"].kept == ("x", "y")
    assert set(run.metrics) == {"physics", "neural", "symbolic"}
    assert run.missing == {}


def _copy(run: Path, tmp_path: Path) -> Path:
    return shutil.copytree(run, tmp_path / "run")


@pytest.mark.parametrize("name", ["config.yaml", "metrics.json"])
def test_missing_required_file_is_named(minimal_run: Path, tmp_path: Path, name: str) -> None:
    run = _copy(minimal_run, tmp_path)
    (run / name).unlink()
    with pytest.raises(RunDirectoryError, match=f"{name} is missing"):
        load_run(run)


def test_malformed_metrics_name_the_file_and_key(minimal_run: Path, tmp_path: Path) -> None:
    run = _copy(minimal_run, tmp_path)
    (run / "metrics.json").write_text(json.dumps({"neural": {"val": {"flow": {"nse": "high"}}}}))
    with pytest.raises(RunDirectoryError, match=r"metrics.json is malformed.*'nse'.*'high'"):
        load_run(run)


def test_config_must_be_a_mapping(minimal_run: Path, tmp_path: Path) -> None:
    run = _copy(minimal_run, tmp_path)
    (run / "config.yaml").write_text("- just\n- a list\n")
    with pytest.raises(RunDirectoryError, match="config.yaml is malformed"):
        load_run(run)


def test_optional_files_are_recorded_as_missing(minimal_run: Path) -> None:
    run = load_run(minimal_run)
    assert run.equations == {} and run.samples == {} and run.comparisons is None
    assert run.missing["equations.json"] == "not written"
    assert "history.csv" not in run.missing


def test_command_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path / "absent")]) == 2
    assert "does not exist" in capsys.readouterr().err
