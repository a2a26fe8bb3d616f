"""A fast copy of the Lotka–Volterra study, shared by the reliability tests."""

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

CASE = Path(__file__).parents[2] / "case_studies" / "lotka_volterra"

Case = tuple[dict, Callable[[dict], Path]]
"""``(config, write)``: the fast config as a dict and ``write(config, name)`` that saves a
(changed) config as YAML beside the case study's data.csv and returns its path."""


def _make_case(folder: Path) -> Case:
    shutil.copy(CASE / "data.csv", folder / "data.csv")
    config = yaml.safe_load((CASE / "config.yaml").read_text())
    config["train"].update(iterations=20, lbfgs_iterations=2, eval_every=5, checkpoint_every=2)
    config["distill"] = {
        "engine": "rational",
        # a budget the search never reaches (it takes a fraction of a second): the
        # equations then do not depend on the machine's load
        "time_budget_s": 60,
        "samples": 100,
        "max_complexity": 8,
        "selection_refit_steps": 1,
        "options": {"max_numerator_terms": 2, "max_denominator_terms": 1},
    }
    config["reinsert"] = {"iterations": 5, "lbfgs_iterations": 1}

    def write(changed: dict, name: str = "config.yaml") -> Path:
        path = folder / name
        path.write_text(yaml.safe_dump(changed))
        return path

    return config, write


@pytest.fixture(scope="session")
def make_case() -> Callable[[Path], Case]:
    """``make_case(folder)``: put the fast case study into ``folder`` (see :data:`Case`)."""
    return _make_case


@pytest.fixture
def lv_case(tmp_path) -> Case:
    """The fast case study in the test's temporary folder (see :data:`Case`)."""
    return _make_case(tmp_path)
