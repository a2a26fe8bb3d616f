"""Every notebook in notebooks/ runs top to bottom (with its quick settings) so none rots."""

from pathlib import Path

import nbclient
import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
REQUIRED = {"01_hypothesis_testing_et.ipynb", "02_equation_discovery_ude.ipynb"}


def test_the_required_notebooks_exist_with_outputs():
    present = {p.name for p in NOTEBOOKS.glob("*.ipynb")}
    assert REQUIRED <= present, f"missing notebooks: {sorted(REQUIRED - present)}"
    for name in REQUIRED:
        notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
        code = [c for c in notebook.cells if c.cell_type == "code"]
        assert code and all(c.get("outputs") is not None for c in code)
        assert any(c.outputs for c in code), f"{name} was committed without its outputs"


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom(path, tmp_path):
    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    client.execute()  # raises CellExecutionError naming the cell that failed
    errors = [o for c in notebook.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
