"""docs/run_directory.md against the files a run writes: every file is documented, every
file documented as written by every run is there, CSV columns are the documented ones and
JSON keys are documented."""

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from discover.study import Study

DOC = Path(__file__).parents[2] / "docs" / "run_directory.md"


def documented() -> dict[str, tuple[str, str]]:
    """``{file pattern: (written, content)}`` from the table of docs/run_directory.md."""
    rows = {}
    for line in DOC.read_text().splitlines():
        cells = [cell.strip() for cell in line.strip("|").split(" | ")]
        if not line.startswith("| `") or len(cells) != 3:
            continue
        for name in re.findall(r"`([^`]+)`", cells[0]):
            rows[name] = (cells[1], cells[2])
    return rows


def pattern(name: str) -> re.Pattern:
    """A documented name as a regex: ``<slot>`` one path part, ``*`` part of one."""
    parts = re.split(r"(<[^>]+>|\*)", name)
    body = "".join(
        "[^/]+" if p.startswith("<") else "[^/]*" if p == "*" else re.escape(p) for p in parts
    )
    return re.compile(body)


def csv_columns(content: str) -> list[str]:
    """The documented columns: the backticked list after ``columns``."""
    found = re.search(r"columns `([^`]+)`", content)
    assert found, content
    return [column.strip() for column in found.group(1).split(",")]


@pytest.fixture(scope="module")
def run(tmp_path_factory, make_case) -> Path:
    """The fast Lotka–Volterra study with a hypothesis and 12 held-out times (enough for
    paired tests); no k-fold over sites."""
    folder = tmp_path_factory.mktemp("lv")
    config, write = make_case(folder)
    config["train"]["split"] = 0.6
    config["hypotheses"] = {"H1": "F = c*x*y"}
    config["truth"] = {"F": "0.9*x*y", "G": "0.8*x*y"}
    Study.from_config(write(config), out=folder / "run").run(progress=False)
    return folder / "run"


def test_every_file_written_is_documented_and_every_always_written_file_is_there(run):
    rows = documented()
    written = sorted(str(p.relative_to(run)) for p in run.rglob("*") if p.is_file())
    patterns = [pattern(name) for name in rows]
    undocumented = [f for f in written if not any(p.fullmatch(f) for p in patterns)]
    assert not undocumented
    always = [name for name, (when, _) in rows.items() if when.startswith("every run")]
    for name in always:
        assert any(pattern(name).fullmatch(f) for f in written), f"{name} is documented but missing"
    assert {"comparisons.csv", "hypotheses.json", "equations.json", "truth.json"} <= set(written)


@pytest.mark.parametrize("name", ["history.csv", "metrics_sites.csv", "comparisons.csv"])
def test_csv_columns_are_the_documented_ones(run, name):
    assert list(pd.read_csv(run / name, nrows=0).columns) == csv_columns(documented()[name][1])


def test_json_keys_are_documented(run):
    rows = documented()
    provenance = json.loads((run / "provenance.json").read_text())
    assert all(f"`{key}`" in rows["provenance.json"][1] for key in provenance)
    for name in ("equations.json", "hypotheses.json", ".discover-run.json"):
        content = rows[name][1]
        entries = json.loads((run / name).read_text())
        keys = set(entries) if name.startswith(".") else {k for e in entries.values() for k in e}
        assert keys and all(f'"{key}"' in content for key in keys), (name, keys)
    assert "refitted" in json.loads((run / "equations.json").read_text())["F"]
