"""The `discover` command's one error boundary: a problem the user can fix is one line
`error: ...` with exit code 2, anything else one line naming the log that holds its
traceback (exit 1), Ctrl-C exit 130 with the command that resumes; never a traceback
unless --debug asks for it."""

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import discover
from discover.cli import main
from discover.config import ConfigError
from discover.run_directory import prepare
from discover.study import Study


def _quick(config: dict) -> dict:
    """The fast case study without distillation: a run is training and scoring only."""
    config["distill"] = None
    config["train"].update(iterations=6, lbfgs_iterations=0)
    return config


def _one_error_line(capsys, prefix: str = "error: ") -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.strip().splitlines() if line]
    assert len(lines) == 1 and lines[0].startswith(prefix), err
    return lines[0]


def test_spaces_around_column_names_are_ignored(lv_case, capsys):
    config, write = lv_case
    path = write(config)
    data = path.parent / "data.csv"
    table = data.read_text().splitlines()
    assert table[0] == "t,x,y"
    data.write_text("\n".join(["t, x , y", *table[1:]]) + "\n")
    assert main(["check", str(path)]) == 0
    workflow = Study.from_config(path).workflow
    assert workflow.variables == ["x", "y"] and workflow.forcing_names == []
    assert np.isfinite(workflow.observed).all()

    data.write_text("\n".join(["t,x, x", *table[1:]]) + "\n")
    assert main(["check", str(path)]) == 2
    assert "['x'] appear more than once" in _one_error_line(capsys)


def test_parquet_data_loads_as_the_study_data(lv_case):
    config, write = lv_case
    csv = write(config).parent / "data.csv"
    pd.read_csv(csv).to_parquet(csv.with_suffix(".parquet"))
    from_csv = Study.from_config(write(config)).workflow
    config["data"]["path"] = "data.parquet"
    from_parquet = Study.from_config(write(config, "parquet.yaml")).workflow
    np.testing.assert_array_equal(from_parquet.observed, from_csv.observed)
    np.testing.assert_array_equal(from_parquet.times_index(), from_csv.times_index())


def test_nan_site_attribute_names_the_attribute_and_the_site(tmp_path, capsys):
    from discover.data.synthetic import synthetic_weather
    from discover.data.twin import make_twin

    twin = make_twin(synthetic_weather(3, n_days=120, seed=1), spinup_days=0)
    twin = twin[[n for n in twin.data_vars if not n.startswith("true_")]]
    twin["forest_fraction"][1] = np.nan
    twin.to_netcdf(tmp_path / "data.nc")
    site = str(twin["site"].values[1])
    config = {
        "data": {"source": "netcdf", "path": "data.nc"},
        "model": {"type": "hbv", "warmup": 30, "parameters": "attributes"},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["check", str(path)]) == 2
    line = _one_error_line(capsys)
    assert "'forest_fraction'" in line and f"site {site!r}" in line
    config["model"]["parameters"] = "site"  # the attributes feed nothing: a warning only
    path.write_text(yaml.safe_dump(config))
    assert main(["check", str(path)]) == 0


def _huge_observation(config: dict, folder: Path) -> None:
    table = pd.read_csv(folder / "data.csv")
    table.loc[5, "x"] = 1e300
    table.to_csv(folder / "data.csv", index=False)


def _fast_growth(config: dict, folder: Path) -> None:
    config["model"]["parameters"]["alpha"] = 1e30


@pytest.mark.parametrize("change", [_huge_observation, _fast_growth])
def test_divergence_before_any_step_is_a_one_line_diagnosis(lv_case, tmp_path, capsys, change):
    config, write = lv_case
    _quick(config)
    change(config, tmp_path)
    out = tmp_path / "run"
    assert main(["run", str(write(config)), "--out", str(out), "--quiet"]) == 2
    line = _one_error_line(capsys)
    assert "diverged before any finite step" in line
    assert re.search(r"non-finite in 'x' at site '0', time 0\.\d;", line)
    assert "model.initial" in line and "substeps" in line
    assert not (out / "metrics.json").exists()


@pytest.fixture
def failing_run(monkeypatch, lv_case, tmp_path):
    """``(config path, run dir)`` of a study whose run raises ``error``, set by the test."""
    config, write = lv_case
    raised: dict[str, BaseException] = {}

    def run(self, **kwargs):
        prepare(self.out, resume=False)  # a run directory of discover's own
        raise raised["error"]

    monkeypatch.setattr(Study, "run", run)
    return write(_quick(config)), tmp_path / "run", raised


def test_internal_error_is_one_line_naming_the_log_with_its_traceback(failing_run, capsys):
    path, out, raised = failing_run
    raised["error"] = RuntimeError("solver state lost\nsecond line")
    assert main(["run", str(path), "--out", str(out), "--quiet"]) == 1
    line = _one_error_line(capsys, "internal error: ")
    log = out / "discover.log"
    assert line == f"internal error: RuntimeError: solver state lost (full traceback in {log})"
    text = log.read_text()
    assert "Traceback" in text and "second line" in text


def test_internal_error_never_logs_into_a_folder_of_the_users(failing_run, monkeypatch, capsys):
    path, out, raised = failing_run
    raised["error"] = RuntimeError("solver state lost")
    monkeypatch.setattr(Study, "run", lambda self, **kwargs: _raise(raised["error"]))
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert main(["run", str(path), "--out", str(out), "--quiet"]) == 1
    line = _one_error_line(capsys, "internal error: ")
    log = Path(line.split("full traceback in ")[1].rstrip(")"))
    assert log.parent != out and sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    log.unlink()


def _raise(error: BaseException) -> None:
    raise error


def test_internal_error_outside_a_run_directory_logs_to_a_temporary_file(
    monkeypatch, lv_case, capsys
):
    config, write = lv_case

    def broken(*args, **kwargs):
        raise KeyError("variables")

    monkeypatch.setattr(Study, "from_config", broken)
    assert main(["check", str(write(config))]) == 1
    line = _one_error_line(capsys, "internal error: KeyError: 'variables' ")
    log = Path(line.split("full traceback in ")[1].rstrip(")"))
    assert "KeyError" in log.read_text()
    log.unlink()


def test_debug_shows_the_traceback(failing_run, lv_case, tmp_path):
    path, out, raised = failing_run
    raised["error"] = RuntimeError("solver state lost")
    with pytest.raises(RuntimeError, match="solver state lost"):
        main(["--debug", "run", str(path), "--out", str(out), "--quiet"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ncolour: red\n")
    with pytest.raises(ConfigError):
        main(["--debug", "check", str(bad)])


def test_a_multi_line_user_error_keeps_its_lines_without_traceback(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ncolour: red\nshade: blue\n")
    assert main(["check", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "colour" in err and "shade" in err
    assert "Traceback" not in err


def test_ctrl_c_exits_130_with_the_resume_command(failing_run, capsys):
    path, out, raised = failing_run
    raised["error"] = KeyboardInterrupt()
    assert main(["run", str(path), "--out", str(out), "--quiet"]) == 130
    line = _one_error_line(capsys, "interrupted")
    assert line.endswith(f"discover run {path} --out {out} --resume")


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"discover {discover.__version__}"
