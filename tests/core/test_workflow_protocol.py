"""The Workflow protocol declares what Study and its stages call on a workflow."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import discover
from discover.workflows import base
from discover.workflows.base import Workflow
from discover.workflows.hbv import HBVWorkflow
from discover.workflows.ode import ODEWorkflow

PACKAGE = Path(discover.__file__).parent
HBV_ONLY = {"hide_sites"}  # ODE multiple shooting starts its segments at observed states
OBJECTIVE_INTERNALS = r"\bworkflow\.(flow|flow_seen|flow_scale|observations|loss_scale|n_fit)\b"


def _declared() -> set[str]:
    return {n for n in vars(Workflow) if not n.startswith("_")} | set(Workflow.__annotations__)


def test_no_function_is_nested_in_another_in_the_protocol_module():
    tree = ast.parse(inspect.getsource(base))
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef):
            inner = [
                n.name for n in ast.walk(node) if n is not node and isinstance(n, ast.FunctionDef)
            ]
            assert not inner, f"{node.name} defines {inner} in its body"


def test_every_method_called_on_a_generic_workflow_is_declared():
    called = set()
    for path in [PACKAGE / "study.py", *sorted((PACKAGE / "stages").glob("*.py"))]:
        called |= set(re.findall(r"\bworkflow\.([a-z_]+)\(", path.read_text()))
    ode_strategy = {"shooting"}  # the 'ode' training strategy checks for an ODEWorkflow first
    hbv_typed = {"warm_start_at"}  # stages.models.start_from takes HBVWorkflows only
    assert called - ode_strategy - hbv_typed <= _declared()


def test_both_workflows_have_every_declared_method():
    methods = {n for n in vars(Workflow) if not n.startswith("_") and callable(vars(Workflow)[n])}
    assert {"parameters", "state_dict", "load_state_dict", "to", "hide_sites"} <= methods
    for cls in (HBVWorkflow, ODEWorkflow):
        expected = methods if cls is HBVWorkflow else methods - HBV_ONLY
        assert all(callable(getattr(cls, name, None)) for name in expected), cls


def test_both_workflows_leave_their_loss_splits_and_observations_to_an_objective():
    assert "objective" in _declared()
    for cls in (HBVWorkflow, ODEWorkflow):
        assert issubclass(cls, base.WithObjective), cls
        for name in ("loss", "split_slices", "observed", "batches_per_epoch"):
            assert getattr(cls, name) is getattr(base.WithObjective, name), (cls, name)


def test_population_and_stages_read_observations_through_the_objective():
    paths = [PACKAGE / "fit" / "population.py", *sorted((PACKAGE / "stages").glob("*.py"))]
    for path in paths:
        found = re.findall(OBJECTIVE_INTERNALS, path.read_text())
        assert not found, f"{path.name} reads workflow.{found} (use workflow.objective)"
