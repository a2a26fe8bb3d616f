"""A process killed while writing a checkpoint leaves the previous one whole, and the next
save clears what the killed writer left behind.

The writer kills itself at a fixed point of its third save (half of the file written, or
the file written but not yet renamed), so the test does not depend on timing."""

import signal
import subprocess
import sys

import pytest
import torch

from discover.fit.checkpoints import load_checkpoint, save_checkpoint

WRITER = """
import io, os, signal, sys, torch
from discover.fit.checkpoints import save_checkpoint

path, point = sys.argv[1], sys.argv[2]
for i in range(2):
    save_checkpoint({"i": i, "w": torch.full((100_000,), float(i))}, path)


def killed(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)


if point == "write":
    whole = torch.save

    def half_then_killed(state, stream):
        buffer = io.BytesIO()
        whole(state, buffer)
        stream.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])
        stream.flush()
        killed()

    torch.save = half_then_killed
else:
    os.replace = killed
save_checkpoint({"i": 2, "w": torch.full((100_000,), 2.0)}, path)
"""


@pytest.mark.parametrize("point", ["write", "replace"])
def test_a_writer_killed_mid_save_leaves_the_last_checkpoint_whole(tmp_path, point):
    path = tmp_path / "last.pt"
    writer = subprocess.run([sys.executable, "-c", WRITER, str(path), point], timeout=120)
    assert writer.returncode == -signal.SIGKILL
    state = load_checkpoint(path)
    assert state["i"] == 1 and torch.equal(state["w"], torch.full((100_000,), 1.0))
    assert len(list(tmp_path.glob("last.pt.*.tmp"))) == 1  # what the killed writer left
    save_checkpoint({"i": 3}, path)
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]
    assert load_checkpoint(path) == {"i": 3}
