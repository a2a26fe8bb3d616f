"""Ctrl-C held back while a training step changes the model, so a checkpoint written after
an interruption always holds one completed step."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def deferred_interrupt() -> Iterator[None]:
    """Run the block with SIGINT held back; a Ctrl-C received meanwhile raises
    ``KeyboardInterrupt`` when the block ends. Outside the main thread, or when SIGINT is
    not handled by Python's default handler, the block runs unchanged."""
    usable = threading.current_thread() is threading.main_thread()
    if not usable or signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield
        return
    received: list[int] = []
    signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if received:
        raise KeyboardInterrupt
