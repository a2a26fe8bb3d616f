"""Running under ``torchrun``: which process this is, and the process group it joins.

``torchrun --nproc-per-node N -m discover run CONFIG --out DIR`` starts ``N`` processes
on each machine and tells each its place in the environment: ``RANK`` (``0`` to
``WORLD_SIZE - 1`` over every machine), ``WORLD_SIZE`` and ``LOCAL_RANK`` (its place on
this machine), with ``MASTER_ADDR`` and ``MASTER_PORT`` where the processes meet.
:func:`torchrun_launch` reads them; :func:`process_group` joins the group for the run
(backend ``gloo`` on CPU; ``nccl`` between GPUs) and leaves it at the end;
:func:`use_device` puts each process on its own GPU, ``cuda:LOCAL_RANK``, for
``device: cuda``. Outside ``torchrun``, or with one process, the run is alone and no
group is made.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType

import torch
import torch.distributed as dist

from discover.errors import UserError
from discover.fit.world import World, current_world

PLACE = ("RANK", "WORLD_SIZE", "LOCAL_RANK")
"""The variables ``torchrun`` sets for each process it starts."""
MEETING = ("MASTER_ADDR", "MASTER_PORT")
"""The variables that say where the processes meet (``torchrun`` sets them too)."""


class LaunchError(UserError):
    """The process was started in a way that cannot run; the message says what to fix."""


@dataclass(frozen=True)
class Launch:
    """This process's place among ``size`` processes: ``rank`` over every machine,
    ``local_rank`` on this one."""

    rank: int
    size: int
    local_rank: int


def torchrun_launch(environ: Mapping[str, str] | None = None) -> Launch | None:
    """This process's place as ``torchrun`` set it in ``environ`` (default: the process's
    environment); ``None`` when none of ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` is set.

    Raises:
        LaunchError: only some of them are set, one is not a whole number, or they do
            not fit together (``0 <= RANK < WORLD_SIZE``, ``LOCAL_RANK <= RANK``).
    """
    environ = os.environ if environ is None else environ
    present = [name for name in PLACE if name in environ]
    if not present:
        return None
    missing = [name for name in PLACE if name not in environ]
    if missing:
        raise LaunchError(
            f"{', '.join(present)} set but not {', '.join(missing)}: start several processes "
            "with torchrun (torchrun --nproc-per-node N -m discover run ...), or unset "
            f"{', '.join(present)} to run one"
        )
    try:
        rank, size, local_rank = (int(environ[name]) for name in PLACE)
    except ValueError:
        shown = ", ".join(f"{name}={environ[name]!r}" for name in PLACE)
        raise LaunchError(f"{shown}: each must be a whole number") from None
    if size < 1 or not 0 <= rank < size or not 0 <= local_rank <= rank:
        raise LaunchError(
            f"RANK={rank}, WORLD_SIZE={size}, LOCAL_RANK={local_rank} do not fit together "
            "(0 <= LOCAL_RANK <= RANK < WORLD_SIZE); start the processes with torchrun"
        )
    return Launch(rank, size, local_rank)


@contextmanager
def process_group(launch: Launch | None) -> Iterator[World]:
    """Join the process group of ``launch`` for the block and yield this process's
    :class:`~discover.fit.world.World`; the group is left on every exit path (unless the
    block left it already, :func:`~discover.fit.distributed.leave_group`). Alone (a world
    of one, no group) when ``launch`` is ``None`` or has one process.

    The group is joined before the config is read (so that an error in it is reported
    once): tensors on the CPU and every object travel by ``gloo``, tensors on a GPU by
    ``nccl`` (see :func:`use_device`). Meanwhile ``SIGTERM``, by which ``torchrun`` ends
    the other processes when one fails, interrupts the process like Ctrl-C: it writes
    its checkpoint, unlocks the run directory and removes its temporary folder.

    Raises:
        LaunchError: ``MASTER_ADDR`` or ``MASTER_PORT`` not set.
    """
    if launch is None or launch.size == 1:
        yield World()
        return
    missing = [name for name in MEETING if name not in os.environ]
    if missing:
        raise LaunchError(
            f"{' and '.join(missing)} not set: the processes do not know where to meet; "
            "start them with torchrun"
        )
    backend = "cpu:gloo,cuda:nccl" if torch.cuda.is_available() else "gloo"
    dist.init_process_group(backend, init_method="env://", rank=launch.rank, world_size=launch.size)
    main = threading.current_thread() is threading.main_thread()  # only it may handle signals
    previous = signal.signal(signal.SIGTERM, _interrupt) if main else None
    try:
        yield current_world()
    finally:
        if main:
            signal.signal(signal.SIGTERM, previous)
        if dist.is_initialized():
            dist.destroy_process_group()


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"ended by signal {signum}")


def use_device(launch: Launch | None, device: str) -> None:
    """With ``device`` ``cuda`` and several processes, make ``cuda`` mean this process's
    own GPU, ``cuda:LOCAL_RANK`` (one GPU per process). Nothing otherwise.

    Raises:
        LaunchError: fewer GPUs on this machine than processes started on it
            (``LOCAL_WORLD_SIZE``).
    """
    if device != "cuda" or launch is None or launch.size == 1:
        return
    here = int(os.environ.get("LOCAL_WORLD_SIZE", launch.local_rank + 1))
    if max(here, launch.local_rank + 1) > torch.cuda.device_count():
        raise LaunchError(
            f"{here} processes on this machine need as many GPUs (device: cuda, one per "
            f"process), but it has {torch.cuda.device_count()}: start at most one process "
            "per GPU (torchrun --nproc-per-node)"
        )
    torch.cuda.set_device(launch.local_rank)
