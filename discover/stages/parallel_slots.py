"""Distilling several slots side by side: each slot's distillation and selection
(:meth:`~discover.study.Study.distill`) in a forked process of its own, from the same
trained model, its result sent back to the study (``distill.workers``).

A worker is forked from the study as it stands (nothing large is pickled on the way in);
it runs :meth:`Study.distill` on its copy, then sends back what that recorded for the slot
(:class:`~discover.stages.distill.DistilledSlot`) and, meanwhile, its log records, which
the parent hands to its own loggers. A slot whose distillation raises is a failure worded
as in the sequential path; a worker that dies fails the slot it had not returned.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable, Iterable
from multiprocessing.connection import Connection, wait
from typing import TYPE_CHECKING, Any

import torch
import torch.distributed as dist
from tqdm.auto import tqdm

from discover.stages.distill import DistilledSlot

if TYPE_CHECKING:
    from multiprocessing.context import ForkContext, ForkProcess

    from discover.study import Study

log = logging.getLogger("discover")

PR_SET_PDEATHSIG = 1
"""Linux ``prctl`` option: the signal a process receives when its parent dies."""

_STUDY: Study | None = None
"""The study the forked workers distill from (set just before they start)."""


def available_cpus() -> int:
    """CPUs this process may run on (its affinity where the system tells it)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def slot_workers(study: Study, slots: list[str], one_at_a_time: bool) -> int:
    """Worker processes for distilling ``slots`` (``distill.workers``, ``null``: one per
    slot up to :func:`available_cpus`); 1 (and why, at INFO when more were asked) when the
    slots must be distilled in this process one after another."""
    asked = study.config.distill.workers
    workers = min(len(slots), available_cpus()) if asked is None else asked
    why = serial_reason(study, slots, one_at_a_time) if workers > 1 else None
    if why is not None and asked is not None and asked > 1:
        log.info("distill.workers: %d asked, slots distilled one after another: %s", asked, why)
    return 1 if why is not None else workers


def serial_reason(study: Study, slots: list[str], one_at_a_time: bool) -> str | None:
    """Why ``slots`` cannot be distilled in forked processes (``None``: they can)."""
    if len(slots) < 2:
        return "one slot"
    if one_at_a_time:
        return "each slot is distilled from the model refitted after the one before"
    if study.workflow.device.type != "cpu":
        return f"the model is on {study.workflow.device} (a GPU cannot be forked)"
    if dist.is_available() and dist.is_initialized():
        return "the run is shared among processes (torchrun)"
    if "fork" not in multiprocessing.get_all_start_methods():
        return "processes cannot be forked here"
    if multiprocessing.current_process().daemon:
        return "this process is a daemonic child, which may not start processes"
    return None


def distill_in_workers(
    study: Study,
    slots: list[str],
    workers: int,
    progress: bool,
    failed: Callable[[str, str], None],
) -> None:
    """Distill ``slots`` in at most ``workers`` forked processes at a time; once all have
    ended, in the order of ``slots``, each result is recorded into ``study``
    (:meth:`~discover.stages.distill.DistilledSlot.record`) and each failure passed to
    ``failed(slot, why)``. Ctrl-C stops every worker and raises ``KeyboardInterrupt``."""
    global _STUDY
    context = multiprocessing.get_context("fork")
    results: dict[str, DistilledSlot | str] = {}
    running: dict[Connection, tuple[str, ForkProcess]] = {}
    waiting = list(reversed(slots))
    bar = tqdm(total=len(slots), desc="distilling slots", disable=not progress)
    _STUDY = study
    try:
        while waiting or running:
            while waiting and len(running) < workers:
                slot = waiting.pop()
                receiver, process = _start(context, slot)
                running[receiver] = (slot, process)
            for receiver in wait(list(running), timeout=1.0):  # Ctrl-C is seen meanwhile
                done = _receive(receiver, running, results)
                bar.update(done)
    finally:
        _STUDY = None
        bar.close()
        _stop(running.values())
    for slot in slots:
        result = results[slot]
        if isinstance(result, str):
            failed(slot, result)
        else:
            result.record(study, slot)


def _start(context: ForkContext, slot: str) -> tuple[Connection, ForkProcess]:
    """A worker forked to distill ``slot``, and the end of its pipe to read from."""
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_work, args=(slot, os.getpid(), sender), daemon=True)
    process.start()
    sender.close()  # only the worker writes: its end closes when it dies
    return receiver, process


def failure(err: Exception) -> str:
    """How a slot's failure is recorded (``study.failures``) and reported."""
    return f"{type(err).__name__}: {err}"


def _receive(
    receiver: Connection,
    running: dict[Connection, tuple[str, ForkProcess]],
    results: dict[str, DistilledSlot | str],
) -> int:
    """Take one message from a worker: a log record is handed to this process's logger
    of its name; a result (or failure) is kept and its worker joined. Returns how many
    slots ended (0 or 1)."""
    slot, process = running[receiver]
    try:
        kind, payload = receiver.recv()
    except (EOFError, OSError):  # the worker died before it answered
        process.join()
        kind, payload = "failed", f"the worker process died (exit code {process.exitcode})"
    if kind == "log":
        logging.getLogger(payload.name).handle(payload)
        return 0
    results[slot] = payload
    receiver.close()
    del running[receiver]
    process.join()
    return 1


def _stop(processes: Iterable[tuple[str, ForkProcess]]) -> None:
    """End the workers still running (an interruption or an error here)."""
    for _, process in processes:
        process.terminate()
    for _, process in processes:
        process.join()


class _Sender(logging.Handler):
    """Sends a worker's log records and its result to the parent through one pipe."""

    def __init__(self, connection: Connection):
        super().__init__()
        self.connection = connection
        self.sending = threading.Lock()

    def send(self, kind: str, payload: Any) -> None:
        with self.sending:
            self.connection.send((kind, payload))

    def emit(self, record: logging.LogRecord) -> None:
        record.msg = record.message = self.format(record)  # with its traceback, if any
        record.args = record.exc_info = record.exc_text = record.stack_info = None
        try:
            self.send("log", record)
        except Exception:
            self.handleError(record)


def _end_with_parent(parent: int) -> None:
    """Have the kernel kill this worker when its parent dies (Linux ``prctl``; elsewhere
    nothing), so that a study killed at a time limit leaves no worker running."""
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # it died before that
        os._exit(1)


def _work(slot: str, parent: int, connection: Connection) -> None:
    """A worker: distill ``slot`` of the inherited study and send back what it recorded.
    It runs on one torch thread: a process forked from one that has run OpenMP threads
    hangs when it starts threads of its own (torch 2.13, GNU OpenMP)."""
    _end_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops its workers
    torch.set_num_threads(1)
    sender = _Sender(connection)
    root = logging.getLogger()
    for logger in [root, *root.manager.loggerDict.values()]:
        for handler in list(getattr(logger, "handlers", [])):  # the parent's handle them
            logger.removeHandler(handler)
    root.addHandler(sender)
    study = _STUDY
    before = dict(study.timings)
    try:
        study.distill(slot, progress=False)
    except Exception as err:
        sender.send("failed", failure(err))
        return
    timings = {k: v - before.get(k, 0.0) for k, v in study.timings.items() if v != before.get(k)}
    found = DistilledSlot(
        study.fronts[slot],
        study.samples.get(slot),
        study.rankings.get(slot),
        study.trained.get(slot, {}),
        timings,
    )
    try:
        sender.send("done", found)
    except Exception as err:  # it does not pickle: nothing was sent
        sender.send("failed", failure(err))
