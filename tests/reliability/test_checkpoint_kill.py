"""A process killed while writing a checkpoint leaves the previous one whole, and the next
save clears what the killed writer left behind."""

import os
import signal
import subprocess
import sys
import time

import torch

from discover.fit.checkpoints import load_checkpoint, save_checkpoint

WRITER = """
import sys, torch
from discover.fit.checkpoints import save_checkpoint
i = 0
while True:
    save_checkpoint({"i": i, "w": torch.full((2_000_000,), float(i))}, sys.argv[1])
    print(i, flush=True)
    i += 1
"""


def _kill_a_writer(path, saves: int) -> int:
    """Start a process that saves checkpoints to ``path`` in a loop; SIGKILL it during
    the save after ``saves`` complete ones. Returns the number of complete saves seen."""
    process = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        for _ in range(saves):
            assert process.stdout.readline(), "the writer ended"
        time.sleep(0.005)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.kill()
        process.wait()
        process.stdout.close()
    return saves


def test_a_writer_killed_mid_save_leaves_the_last_checkpoint_whole(tmp_path):
    path = tmp_path / "last.pt"
    leftovers = 0
    for attempt in range(3):
        done = _kill_a_writer(path, saves=2)
        state = load_checkpoint(path)
        assert state["i"] >= done - 1
        assert torch.equal(state["w"], torch.full((2_000_000,), float(state["i"])))
        leftovers += len(list(tmp_path.glob("*.tmp")))
        save_checkpoint({"i": -1, "attempt": attempt}, path)
        assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]
    assert leftovers, "no kill landed during a save; the test did not test anything"
