"""Hostile or careless configs: ``discover check`` ends with exit code 2 and one line naming
the key, token or line, never a hang, a traceback or a silent acceptance.

Each check runs in a child process (forked from a server that imported ``discover`` once)
under a hard time limit: a hang fails its test instead of blocking the suite. The limit is
generous; it tells a hang from a slow machine, not a fast run from a slow one.
"""

import multiprocessing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from discover.cli import main
from discover.config import ConfigError, load_config
from discover.errors import UserError
from discover.study import Study

LIMIT_S = 60


@pytest.fixture(scope="module")
def isolated() -> Iterator[Callable[..., Any]]:
    """``isolated(function, *args)``: ``function(*args)`` in a child process, its result
    returned or its exception raised here; a child still running after ``LIMIT_S`` is
    killed and the test fails."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["discover.cli", "discover.study"])

    def run(function: Callable[..., Any], *args: Any) -> Any:
        pool = context.Pool(1)
        try:
            return pool.apply_async(function, args).get(timeout=LIMIT_S)
        except multiprocessing.TimeoutError:
            pytest.fail(f"{function.__name__}{args} still ran after {LIMIT_S} s: a hang")
        finally:
            pool.terminate()
            pool.join()

    yield run


def _set(*keys: str, value: Any) -> Callable[[dict], dict]:
    """A change of the fast Lotka–Volterra config: ``keys`` (a path) set to ``value``."""

    def change(config: dict) -> dict:
        section = config
        for key in keys[:-1]:
            section = section.setdefault(key, {})
        section[keys[-1]] = value
        return config

    return change


def _twin(config: dict) -> dict:
    """A small HBV twin whose planted evapotranspiration holds a power tower."""
    return {
        "name": "twin",
        "data": {
            "source": "twin",
            "sites": 2,
            "days": 60,
            "planted": {"evapotranspiration": "pet*9**9**9"},
        },
        "model": {"type": "hbv", "warmup": 10},
    }


PRODUCT = "*".join(["x"] * 3000)
TOWER = "**".join(["x"] * 3000)

CASES = {
    # a hang: sympy would compute 9**387420489 exactly
    "power tower in an equation": (
        _set("model", "equations", "x", value="alpha*x - F(x, y) + 9**9**9"),
        ["model.equations.x", "9**9"],
    ),
    "power tower in a hypothesis": (
        _set("hypotheses", "H", value={"slot": "F", "expression": "c*x*y + 9**9**9"}),
        ["hypotheses.H.expression", "9**9"],
    ),
    "power tower in a planted process": (_twin, ["data.planted.evapotranspiration", "9**9"]),
    "power tower in the truth": (
        _set("truth", "F", value="x*y*9**9**9"),
        ["truth.F", "9**9"],
    ),
    # tracebacks before
    "3000 factors": (_set("model", "equations", "x", value=PRODUCT), ["model.equations.x"]),
    "3000 nested powers": (_set("model", "equations", "x", value=TOWER), ["model.equations.x"]),
    "seed 2**70": (_set("seed", value=2**70), ["seed"]),
    "seed -1": (_set("seed", value=-1), ["seed"]),
    "absurd network": (
        _set("model", "neural", "F", "hidden", value=[10**9]),
        ["model.neural.F.hidden.0", "4096"],
    ),
    "too many layers": (
        _set("model", "neural", "F", "hidden", value=[8] * 17),
        ["model.neural.F.hidden", "16"],
    ),
    "infinite parameter": (
        _set("model", "parameters", "alpha", value=float("inf")),
        ["model.parameters.alpha", "finite"],
    ),
    "NaN initial state": (
        _set("model", "initial", "x", value=float("nan")),
        ["model.initial.x", "finite"],
    ),
    "unreachable tolerance": (
        _set("model", "solver", value={"method": "dopri5", "rtol": 1e-300, "atol": 1e-300}),
        ["model.solver.rtol", "model.solver.atol", "1e-12", "float64"],
    ),
    # accepted silently before
    "infinite learning rate": (_set("train", "lr", value=float("inf")), ["train.lr", "finite"]),
    "infinite distill option": (
        _set("distill", "options", "penalty", value=float("-inf")),
        ["distill.options", "penalty"],
    ),
    "run name with a path": (_set("name", value="../outside"), ["name", "runs/<name>"]),
    # vague before: "F declared but used in no equation"
    "division by zero": (
        _set("model", "equations", "x", value="alpha*x - F(x, y) + 1/0"),
        ["model.equations.x", "division by zero", "1/0"],
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_hostile_config_is_refused_naming_the_key(lv_case, isolated, case):
    config, write = lv_case
    change, expected = CASES[case]
    path = write(change(config))
    assert isolated(main, ["check", str(path)]) == 2
    with pytest.raises(UserError) as refused:
        isolated(Study.from_config, path)
    message = str(refused.value)
    for part in expected:
        assert part in message, message


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA device")
def test_cuda_without_a_device_is_refused_at_validation(lv_case, isolated):
    config, write = lv_case
    path = write(config | {"device": "cuda"})
    with pytest.raises(ConfigError, match="device.*no CUDA device"):
        isolated(load_config, path)


def _raw(text: str) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        path = folder / "config.yaml"
        path.write_text(text)
        return path

    return make


def _bomb(folder: Path) -> Path:
    """Nine levels of nine aliases each ("billion laughs") under distill.options."""
    lines = ['a0: &a0 ["lol"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    config = yaml.safe_dump({"name": "bomb", "data": {"path": "data.csv", "time": "t"}})
    return _raw(config + "distill:\n  options:\n" + "".join(f"    {x}\n" for x in lines))(folder)


def _folder(folder: Path) -> Path:
    (folder / "config.yaml").mkdir()
    return folder / "config.yaml"


def _latin1(folder: Path) -> Path:
    path = folder / "config.yaml"
    path.write_bytes("name: caf\u00e9\n".encode("latin-1"))
    return path


DUPLICATE = """\
name: twice
data: {path: data.csv, time: t}
train: {lr: 0.01}
model: {type: ode, states: [x], equations: {x: "-x"}}
train: {lr: 1.0}
"""

FILES = {
    "alias bomb": (_bomb, ["line 8", "alias *a0"]),
    "duplicate key": (_raw(DUPLICATE), ["line 5", "duplicate key 'train'", "line 3"]),
    "folder": (_folder, ["config.yaml is a folder"]),
    "missing": (lambda folder: folder / "absent.yaml", ["absent.yaml does not exist"]),
    "not UTF-8": (_latin1, ["not UTF-8", "byte 9"]),
    "overflowing YAML float": (_raw("name: x\nseed: 1.0e+400\n"), ["seed"]),
    "deep YAML": (_raw("name: " + "[" * 5000 + "]" * 5000 + "\n"), ["config.yaml"]),
}


@pytest.mark.parametrize("case", list(FILES))
def test_hostile_file_is_refused_in_one_line(tmp_path, isolated, case):
    make, expected = FILES[case]
    path = make(tmp_path)
    assert isolated(main, ["check", str(path)]) == 2
    with pytest.raises(ConfigError) as refused:
        isolated(load_config, path)
    message = str(refused.value)
    assert "\n" not in message.strip() or message.startswith("invalid"), message
    for part in expected:
        assert part in message, message
