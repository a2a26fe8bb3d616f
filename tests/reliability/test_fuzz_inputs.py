"""Fuzzed equation strings and configs: each is parsed or refused with a ``UserError``,
never another exception, and ``discover check`` writes nothing outside its folder.

Examples are derandomized (the same ones on every run) and few, so that the suite stays
fast; the deadlines are generous and tell a hang-like slowdown from a busy machine.
"""

import copy
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import sympy
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from discover.cli import main
from discover.config import ConfigError, StudyConfig, parse_config
from discover.errors import UserError
from discover.expressions import parse_expression

CASE = Path(__file__).parents[2] / "case_studies" / "lotka_volterra"

FUZZ = settings(
    max_examples=150,
    deadline=5_000,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)

TOKENS = [
    *("x", "y", "alpha", "F", "z", "pi", "E"),
    *("0", "1", "2", "9", "0.5", "1e-300", "1e400", "123456789" * 4, "10**30"),
    *("+", "-", "*", "/", "**", "^", "%", "//", ",", "(", ")", "(", ")"),
    *("exp", "log", "sqrt", "abs", "min", "max", "sin", "tanh", "Max"),
    *("**9", "**9**9", "*x" * 20, "**x" * 10, "(" * 10, ")" * 10),
]


NUMBERS = st.one_of(
    st.integers(min_value=0, max_value=12).map(str),
    st.sampled_from(["0.5", "1e-300", "1e400", "1e30", "1e31", "123456789" * 4, "10**30"]),
    st.floats(min_value=0, allow_infinity=False).map(repr),
)

WELL_FORMED = st.recursive(
    st.one_of(st.sampled_from(["x", "y", "alpha", "pi", "E"]), NUMBERS),
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(["+", "-", "*", "/", "**"]), inner).map(
            lambda t: f"({t[0]}{t[1]}{t[2]})"
        ),
        st.tuples(st.sampled_from(["exp", "log", "sqrt", "abs", "sin", "tanh"]), inner).map(
            lambda t: f"{t[0]}({t[1]})"
        ),
        st.tuples(st.sampled_from(["F", "min", "Max"]), inner, inner).map(
            lambda t: f"{t[0]}({t[1]}, {t[2]})"
        ),
        inner.map(lambda e: f"-{e}"),
    ),
    max_leaves=30,
)
"""Well-formed expressions over the grammar, constants huge and tiny included."""


@FUZZ
@given(st.one_of(st.lists(st.sampled_from(TOKENS), max_size=40).map("".join), WELL_FORMED))
def test_token_soup_parses_or_is_refused(text):
    try:
        expression = parse_expression(text, ["x", "y", "alpha"], {"F": 2})
    except UserError:
        event("refused")
        return
    event("parsed")
    assert isinstance(expression, sympy.Expr)
    assert not expression.has(sympy.zoo, sympy.oo, -sympy.oo, sympy.nan)


def _small_config() -> dict[str, Any]:
    config = yaml.safe_load((CASE / "config.yaml").read_text())
    config["train"] = {"split": 0.9, "iterations": 5}
    config["distill"] = {"engine": "rational", "samples": 50}
    return config


BASE = _small_config()


def _paths(config: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key path of ``config`` (mappings only), shortest first."""
    found = []
    if isinstance(config, dict):
        for key, value in config.items():
            found.append((*prefix, key))
            found += _paths(value, (*prefix, key))
    return found


PATHS = _paths(BASE)


def _deep(levels: int) -> Any:
    """``levels`` nested mappings and lists around a float."""
    value: Any = 1.0
    for _ in range(levels):
        value = {"k": [value]}
    return value


HOSTILE = st.one_of(
    st.integers(min_value=1, max_value=100),
    st.floats(min_value=1e-3, max_value=10),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, -1, 1e9, 2**32, "", "../..", "/tmp", "9**9**9", "x/0", ".", "cuda"]),
    st.text(max_size=12),
    st.none(),
    st.booleans(),
    st.lists(st.integers(min_value=-(10**12), max_value=10**12), max_size=20),
    st.recursive(st.integers(), lambda inner: st.dictionaries(st.text(max_size=3), inner)),
    st.integers(min_value=1, max_value=60).map(_deep),
)


@st.composite
def mutated_configs(draw: st.DrawFn, most: int = 3) -> dict[str, Any]:
    """The small ODE config with up to ``most`` keys replaced or unknown keys added."""
    config = copy.deepcopy(BASE)
    for _ in range(draw(st.integers(min_value=0, max_value=most))):
        path = draw(st.sampled_from(PATHS))
        section = config
        for key in path[:-1]:
            if not isinstance(section.get(key), dict):
                break
            section = section[key]
        else:
            key = path[-1] if draw(st.booleans()) else draw(st.text(min_size=1, max_size=8))
            section[key] = draw(HOSTILE)
    return config


@FUZZ
@given(mutated_configs())
def test_mutated_config_is_valid_or_refused(raw):
    try:
        config = parse_config(raw)
    except ConfigError:
        event("refused")
        return
    event("valid")
    assert isinstance(config, StudyConfig)
    numbers = [v for v in _values(config.resolved()) if isinstance(v, float)]
    assert all(math.isfinite(v) for v in numbers)


def _values(tree: Any) -> list[Any]:
    if isinstance(tree, dict):
        return [v for value in tree.values() for v in _values(value)]
    if isinstance(tree, list):
        return [v for value in tree for v in _values(value)]
    return [tree]


def _listing(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


@settings(max_examples=12, deadline=None, derandomize=True)
@given(
    mutated_configs(most=1),
    st.sampled_from(["study", "../escape", "/tmp/abs", "..", "a/b", "ok.name"]),
    st.sampled_from(["data.csv", "data.csv", "../data.csv", "/nonexistent/data.csv", "."]),
)
def test_check_touches_nothing_outside_its_folder(raw, name, data_path):
    raw = copy.deepcopy(raw)
    raw["name"] = name
    if isinstance(raw.get("data"), dict):
        raw["data"]["path"] = data_path
    with tempfile.TemporaryDirectory() as root:
        work = Path(root) / "work"
        work.mkdir()
        shutil.copy(CASE / "data.csv", work / "data.csv")
        (work / "config.yaml").write_text(yaml.safe_dump(raw))
        before, cwd = _listing(Path(root)), os.getcwd()
        os.chdir(work)
        try:
            code = main(["check", str(work / "config.yaml")])
        finally:
            os.chdir(cwd)
        assert code in (0, 2)
        event(f"exit code {code}")
        assert os.getcwd() == cwd
        outside = {p for p in _listing(Path(root)) - before if not p.startswith("work")}
        assert not outside, outside
