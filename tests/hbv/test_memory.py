"""Freed memory kept for reuse: after an HBV run, memory freed and asked for again is not
refilled page by page (glibc only; each case in a fresh interpreter)."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

# A tiny HBV run (whose first run applies the setting, or not), then three rounds of
# taking 96 MB in 16 MB blocks from the C allocator, writing them and freeing them;
# prints the page faults of the last round.
SCRIPT = """
import ctypes, resource, sys, torch
from discover.models.hbv import HBV
from discover.models.hbv_processes import HBV_BOUNDS
model = HBV(retain_memory=sys.argv[1] == "retain")
forcings = {name: torch.ones(3, 1) for name in ("precipitation", "temperature", "pet")}
middle = {name: (HBV_BOUNDS[name].low + HBV_BOUNDS[name].high) / 2 for name in HBV_BOUNDS}
model(forcings, {name: torch.full((1, 1), middle[name]) for name in model.parameter_names()})
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
block = 16 << 20
for _ in range(3):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    blocks = [libc.malloc(block) for _ in range(6)]
    for address in blocks:
        ctypes.memset(address, 1, block)
    for address in reversed(blocks):
        libc.free(address)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def faults(mode: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return int(done.stdout.split()[-1])


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's allocator only")
def test_an_hbv_run_makes_the_allocator_keep_freed_memory():
    default, retained = faults("default"), faults("retain")
    assert default > 10_000  # glibc hands the 96 MB back and refills them: 4 kB a fault
    assert retained < 1_000
