"""The README's Python section prints what the README says it prints."""

import ast
import contextlib
import io
import os
import re
from pathlib import Path

import pytest
import sympy

ROOT = Path(__file__).parents[2]


def python_section() -> tuple[str, str]:
    """``(code, prose)`` of the README's "Python" section: its code block and the text
    after it."""
    section = ROOT.joinpath("README.md").read_text().split("## Python\n", 1)[1].split("\n## ")[0]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    return code, section.split("```", 2)[2]


@pytest.mark.slow
def test_readme_python_snippet_prints_what_the_readme_says():
    code, prose = python_section()
    printed = io.StringIO()
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        with contextlib.redirect_stdout(printed):
            exec(compile(code, "README.md", "exec"), {})
    finally:
        os.chdir(cwd)
    lines = printed.getvalue().splitlines()
    expression = sympy.sympify(lines[0])  # the selected equation over the states
    assert expression.free_symbols <= {sympy.Symbol("x"), sympy.Symbol("y")}
    scores = ast.literal_eval(lines[1])
    assert set(scores) == {"x", "y"} and "nse" in scores["x"]
    assert "prints an empty table" in prose and lines[2] == "Empty DataFrame"
