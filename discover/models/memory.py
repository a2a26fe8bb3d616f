"""Keep freed memory inside the process, so that a long run's backward pass does not pay
for page faults.

A differentiable model's run keeps every day's intermediate tensors for the backward pass
and frees them during it. With its default settings, glibc's allocator (Linux) hands
freed memory back to the operating system once the free block at the top of its heap
grows past a threshold that it adapts on the fly, and it serves every block above
another, adaptive, size with a fresh ``mmap``; both are refilled page by page on the
next use (a page fault per 4 KiB). A run whose memory stays below those thresholds never
faults; a longer one faults on much of its memory on every run, so its cost grows faster
than its length (measured for the HBV at 100 sites × 16 parameter sets, alternating
lengths: no faults at 365 days, 10,000-20,000 per forward+backward at 730 days, up to a
tenth of its time; with a neural slot, more). Keeping freed memory for reuse, as torch's
caching allocator does on GPUs, makes the cost linear again.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import platform

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
"""glibc's ``mallopt`` options (malloc.h)."""

TRIM_THRESHOLD = 1 << 30
"""Free memory at the top of the heap, in bytes, kept before any is given back (1 GiB)."""

MMAP_THRESHOLD = 32 << 20
"""Blocks of at least this many bytes (32 MiB, glibc's largest) get their own ``mmap``;
smaller ones come from the heap and are reused."""

ENVIRONMENT = {
    "MALLOC_TRIM_THRESHOLD_": str(TRIM_THRESHOLD),
    "MALLOC_MMAP_THRESHOLD_": str(MMAP_THRESHOLD),
}
"""The same settings as environment variables, read by glibc when a process starts (e.g.
for a subprocess that does not import ``discover``)."""


@functools.cache
def retain_freed_memory() -> bool:
    """Ask glibc's allocator, once per process, to keep freed memory for reuse:
    no trimming below :data:`TRIM_THRESHOLD` of free heap, no ``mmap`` below
    :data:`MMAP_THRESHOLD`. The process's resident memory then stays near its peak.

    Returns:
        whether the settings were applied (``False`` off glibc, e.g. macOS or Windows,
        whose allocators are left as they are).
    """
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    trim = libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    mmap = libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    return bool(trim and mmap)
