"""``device: cuda`` end to end: an HBV and an ODE study run every stage on the GPU and agree
with the same study on the CPU.

These tests run where torch sees a CUDA device and are skipped elsewhere. Without a GPU,
``tests/hbv/test_device.py`` checks that no tensor is made on the CPU behind the model's
back, and ``tests/core/test_torchrun.py`` covers several GPUs under ``torchrun``.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import torch
import yaml

from discover.cli import main
from tests.core.test_hbv_study import CONFIG as HBV_CONFIG

pytestmark = pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA device (device: cuda); torch sees none"
)


def _run(config: dict, folder: Path, device: str) -> dict:
    """Run ``config`` on ``device`` into ``folder/<device>``; its metrics.json and the
    selected equation of every slot."""
    config = copy.deepcopy(config) | {"device": device}
    path = folder / f"{device}.yaml"
    path.write_text(yaml.safe_dump(config))
    out = folder / device
    assert main(["run", str(path), "--out", str(out), "--quiet"]) == 0
    equations = json.loads((out / "equations.json").read_text())
    return {
        "metrics": json.loads((out / "metrics.json").read_text()),
        "selected": {slot: entry["selected"]["expression"] for slot, entry in equations.items()},
    }


def _close(cuda: object, cpu: object, rel: float) -> None:
    """Every number of two nested metric dicts agrees within ``rel`` (relative)."""
    if isinstance(cpu, dict):
        assert set(cuda) == set(cpu)
        for key in cpu:
            _close(cuda[key], cpu[key], rel)
    elif isinstance(cpu, float):
        assert cuda == pytest.approx(cpu, rel=rel, abs=1e-6)


def test_hbv_study_on_the_gpu_matches_the_cpu(tmp_path):
    config = copy.deepcopy(HBV_CONFIG) | {"dtype": "float64"}
    cuda, cpu = _run(config, tmp_path, "cuda"), _run(config, tmp_path, "cpu")
    assert set(cuda["metrics"]) == {"physics", "neural", "symbolic"}
    _close(cuda["metrics"]["physics"], cpu["metrics"]["physics"], rel=1e-4)
    assert set(cuda["selected"]) == set(cpu["selected"]) == {"evapotranspiration"}


def test_ode_study_on_the_gpu_matches_the_cpu(tmp_path, make_case):
    config, _ = make_case(tmp_path)
    config = copy.deepcopy(config) | {"dtype": "float64"}
    cuda, cpu = _run(config, tmp_path, "cuda"), _run(config, tmp_path, "cpu")
    assert set(cuda["selected"]) == set(cpu["selected"]) == {"F", "G"}
    _close(cuda["metrics"]["neural"], cpu["metrics"]["neural"], rel=1e-3)
