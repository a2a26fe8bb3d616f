import json
import re
import shutil
import subprocess
import sys

import pytest
import sympy
import torch
import xarray as xr
import yaml

from discover.cli import main, open_study
from discover.config import ConfigError, load_config


@pytest.fixture
def lv_config(lv_case):
    """The fast Lotka–Volterra study with its planted truth, as a file and a dict."""
    config, write = lv_case
    config["truth"] = {"F": "0.9*x*y", "G": "0.8*x*y"}
    return write(config), config


def write(tmp_path, config):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_help_documents_every_command(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for command in ("run", "check", "demo", "report"):
        assert command in out
    result = subprocess.run(
        [sys.executable, "-m", "discover.cli", "run", "--help"], capture_output=True, text=True
    )
    assert "--resume" in result.stdout and "--out" in result.stdout


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: c.update(colour="red"), "colour: unknown key"),
        (lambda c: c["train"].update(split="half"), "train.split"),
        (lambda c: c["train"].update(split=1.5), "train.split"),
        (lambda c: c["model"]["neural"]["F"].update(inputs=[]), "model.neural.F.inputs"),
        (lambda c: c["model"]["neural"]["F"].update(output="positive"), "model.neural.F.output"),
        (lambda c: c["model"].update(type="lstm"), "model.type"),
        (lambda c: c["model"]["equations"].update(x="beta*x - F(x, y)"), "equations.x: undeclared"),
        (lambda c: c["model"]["equations"].update(x="__import__('os')"), "equations.x: unknown"),
        (lambda c: c["model"]["equations"].update(x="x.real"), "equations.x: attribute"),
        (lambda c: c["model"]["equations"].update(x="(lambda: x)()"), "equations.x"),
        (lambda c: c["model"]["equations"].update(x="(" * 10000 + "x" + ")" * 10000), "nests"),
        (lambda c: c["model"]["initial"].update(z=1.0), "not a state"),
        (lambda c: c["model"]["neural"]["G"].update(inputs=["x", "z"]), "model.neural.G.inputs"),
        (lambda c: c["model"]["equations"].update(y="-delta*y + G(y, x)"), "declared inputs"),
        (lambda c: c["train"].update(split=0.99), "no validation data"),
    ],
)
def test_bad_config_fails_at_once_naming_the_key(lv_config, tmp_path, capsys, change, message):
    _, config = lv_config
    change(config)
    path = write(tmp_path, config)
    assert main(["check", str(path)]) == 2
    assert message in capsys.readouterr().err


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(tmp_path / "list.yaml")


def test_run_writes_the_run_directory_and_resumes(lv_config, tmp_path, capsys):
    path, config = lv_config
    out = tmp_path / "run"
    assert main(["run", str(path), "--out", str(out), "--quiet"]) == 0
    assert f"results: {out}" in capsys.readouterr().out
    for name in ("config.yaml", "metrics.json", "provenance.json", "history.csv", "truth.json"):
        assert (out / name).exists(), name
    assert (out / "checkpoints" / "last.pt").exists()
    equations = json.loads((out / "equations.json").read_text())
    assert set(equations) == {"F", "G"}
    for slot in ("F", "G"):
        assert equations[slot]["engine"] == "rational"
        symbols = {name: sympy.Symbol(name) for name in equations[slot]["inputs"]}
        for candidate in [equations[slot]["selected"], *equations[slot]["pareto"]]:
            parsed = sympy.sympify(candidate["expression"], locals=symbols)
            assert {s.name for s in parsed.free_symbols} <= {"x", "y"}
        samples = xr.open_dataset(out / "slots" / f"{slot}.nc")
        assert {"x", "y", "output", "truth"} <= set(samples.data_vars)
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) == {"neural", "symbolic"}
    checks = json.loads((out / "checks.json").read_text())
    assert set(checks["symbolic"]) == {"F", "G"}
    for results in checks["symbolic"].values():
        assert results and all(isinstance(r["passed"], bool) and r["sentence"] for r in results)
    assert set(metrics["neural"]) == {"train", "test"}
    # 3 held-out times are too few for a paired test: the report says so and why
    assert not (out / "comparisons.csv").exists()
    skipped = json.loads((out / "provenance.json").read_text())["skipped_tests"]
    assert len(skipped) == 2 and all("at least 10 are needed" in s for s in skipped)
    assert "No paired test could be made" in (out / "report.md").read_text()
    assert {"nse", "kge", "rmse", "bias"} <= set(metrics["neural"]["test"]["x"])
    resolved, _ = load_config(out / "config.yaml")  # the resolved config means the same
    assert resolved.train == load_config(path)[0].train
    assert resolved.model.solver.method == "rk4"
    # resuming a finished run trains no further and reproduces the metrics
    shutil.copy(out / "metrics.json", tmp_path / "first.json")
    assert main(["run", str(path), "--out", str(out), "--quiet", "--resume"]) == 0
    assert json.loads((out / "metrics.json").read_text()) == metrics


def test_missing_observations_are_masked_and_their_share_reported(lv_case, caplog):
    config, write = lv_case
    path = write(config)
    data = (path.parent / "data.csv").read_text().splitlines()
    data[5] = ",".join(data[5].split(",")[:2] + [""])  # y missing at one time
    (path.parent / "data.csv").write_text("\n".join(data) + "\n")
    with caplog.at_level("INFO", logger="discover"):
        assert main(["check", str(path)]) == 0
    assert "3.2% of y observations missing (masked)" in caplog.text


def test_demo_config_is_packaged_and_valid():
    from importlib.resources import as_file, files

    with as_file(files("discover.demos") / "hbv_et_twin.yaml") as path:
        config, _ = load_config(path)
    assert config.model.type == "hbv" and config.truth and config.model.neural


def test_demo_prints_its_results_and_ends_with_the_report_line(lv_config, tmp_path, capsys):
    from discover.cli import run_demo

    path, _ = lv_config
    assert run_demo(tmp_path / "demo", progress=False, config=path) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert any(line.startswith("neural: held-out median NSE") for line in lines)
    assert re.fullmatch(r"report: .*demo/report\.html \(\d+ s\)", lines[-1])
    assert (tmp_path / "demo" / "report.html").exists()


@pytest.mark.parametrize("threads", [1, 2, None])
def test_a_run_takes_the_configured_cpu_threads(lv_case, threads):
    config, write = lv_case
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(3)
        path = write(config | {"threads": threads})
        open_study(path, path.parent / "run", None)
        assert torch.get_num_threads() == (3 if threads is None else threads)
    finally:
        torch.set_num_threads(before)
