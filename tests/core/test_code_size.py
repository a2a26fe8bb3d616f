"""Small modules with one job: no module of the package over 450 lines, no function over
60 (from its ``def`` to its last line, docstring included)."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).parents[2] / "discover"
MODULE_LINES, FUNCTION_LINES = 450, 60


def test_no_module_or_function_of_the_package_is_too_long():
    long_modules, long_functions = [], []
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text()
        name = path.relative_to(PACKAGE.parent).as_posix()
        if len(text.splitlines()) > MODULE_LINES:
            long_modules.append(f"{name}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > FUNCTION_LINES:
                    long_functions.append(f"{name}:{node.lineno} {node.name}: {lines} lines")
    assert not long_modules, long_modules
    assert not long_functions, long_functions


def test_the_study_is_a_thin_orchestrator():
    assert len((PACKAGE / "study.py").read_text().splitlines()) <= 250
