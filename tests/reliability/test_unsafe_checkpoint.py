"""Resuming from a checkpoint that would run code when unpickled refuses it unread."""

import pytest
import torch

from discover.cli import main
from discover.fit.checkpoints import CheckpointError, load_checkpoint
from discover.run_directory import prepare


class _RunsCode:
    """Unpickling this object calls ``open(marker, "w")``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _plant(lv_case, tmp_path):
    config, write = lv_case
    out = tmp_path / "run"
    marker = tmp_path / "marker"
    prepare(out, resume=False)  # a run directory, as an earlier run leaves it
    (out / "checkpoints").mkdir()
    torch.save({"model": _RunsCode(marker)}, out / "checkpoints" / "last.pt")
    return write(config), out, marker


def test_resume_refuses_a_checkpoint_that_would_run_code(lv_case, tmp_path):
    _, out, marker = _plant(lv_case, tmp_path)
    with pytest.raises(CheckpointError, match="last.pt") as error:
        load_checkpoint(out / "checkpoints" / "last.pt")
    assert not marker.exists()
    message = str(error.value)
    assert "could run code" in message and "weights_only" not in message


def test_resume_from_an_unsafe_checkpoint_is_a_clear_error(lv_case, tmp_path, capsys):
    config, out, marker = _plant(lv_case, tmp_path)
    assert main(["run", str(config), "--out", str(out), "--quiet", "--resume"]) == 2
    assert "cannot read checkpoint" in capsys.readouterr().err
    assert not marker.exists()


def test_a_truncated_checkpoint_is_named_in_one_line(tmp_path):
    path = tmp_path / "last.pt"
    torch.save({"w": torch.ones(1000)}, path)
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(CheckpointError, match="cannot read checkpoint .*last.pt") as error:
        load_checkpoint(path)
    assert "\n" not in str(error.value)
