"""Data-parallel training: several processes each take a share of the sites, and
``DistributedDataParallel`` averages their gradients after every backward pass.

Sites are independent in a δ-model, so splitting them over processes changes nothing
but the speed: with equal shares and a loss that is a mean over sites, the averaged
gradient is the gradient of the whole batch. One process per CPU core group (backend
``gloo``) or per GPU (``nccl``)::

    def train(rank: int, world: int, attributes, forcings) -> dict:
        model = data_parallel(build_model())       # same initial weights in every process
        sites = shard_sites(attributes.shape[0], rank, world)
        loss = model(attributes[sites], forcings[:, sites]).pow(2).mean()
        loss.backward()                            # gradients are averaged here
        ...
        return model.module.state_dict()           # rank 0's result is returned

    state = run_data_parallel(train, world_size=2, args=(attributes, forcings))

A run under ``torchrun`` (:mod:`discover.fit.launch`) keeps its processes in step with
:func:`together` (checks that may fail on one process only), :func:`from_rank_zero`
(decisions that do not repeat exactly, such as a symbolic search with a time budget),
:func:`share_folder` (rank 0's checkpoints for ``--resume``) and :func:`leave_group`
(the end of the shared work).
"""

from __future__ import annotations

import os
import pickle
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from discover.errors import UserError

T = TypeVar("T")


class PeerFailed(UserError):
    """Another process of the run failed (that process reports why); this one stops too."""


def shard_sites(n_sites: int, rank: int, world: int) -> slice:
    """The contiguous share of ``n_sites`` sites of process ``rank`` out of ``world``.

    Shares differ in size by at most one site (the first ``n_sites % world`` processes
    take one more). The averaged gradient equals the whole-batch gradient only when the
    shares are equal (``n_sites`` divisible by ``world``) and the loss is a mean.

    Raises:
        ValueError: ``rank`` outside ``[0, world)`` or fewer sites than processes.
    """
    if world < 1 or not 0 <= rank < world:
        raise ValueError(f"rank must be in [0, world) with world >= 1, got {rank} of {world}")
    if n_sites < world:
        raise ValueError(f"cannot share {n_sites} sites among {world} processes")
    size, extra = divmod(n_sites, world)
    start = rank * size + min(rank, extra)
    return slice(start, start + size + (rank < extra))


def data_parallel(module: nn.Module, **options: Any) -> DistributedDataParallel:
    """Wrap ``module`` for data-parallel training in the current process group.

    The module must already be on this process's device (CPU, or one GPU per process)
    and start from the same weights in every process (e.g. the same seed); DDP then
    keeps them equal by averaging gradients. ``options`` go to
    :class:`~torch.nn.parallel.DistributedDataParallel` (e.g.
    ``find_unused_parameters=True`` when some parameters get no gradient).

    Raises:
        RuntimeError: no process group (call it inside :func:`run_data_parallel`).
    """
    if not dist.is_available() or not dist.is_initialized():
        raise RuntimeError(
            "data_parallel needs a process group: call it inside run_data_parallel "
            "(or after torch.distributed.init_process_group)"
        )
    devices = {p.device for p in module.parameters()}
    if len(devices) > 1:
        raise ValueError(
            f"the module's parameters are on several devices: {sorted(map(str, devices))}"
        )
    device = devices.pop() if devices else torch.device("cpu")
    if device.type == "cuda":
        return DistributedDataParallel(module, device_ids=[device.index], **options)
    return DistributedDataParallel(module, **options)


def run_data_parallel(
    fn: Callable[..., Any],
    world_size: int,
    args: Sequence[Any] = (),
    device: Literal["cpu", "cuda"] = "cpu",
    threads: int | None = None,
    start_method: Literal["spawn", "fork", "forkserver"] = "spawn",
) -> Any:
    """Run ``fn(rank, world_size, *args)`` in ``world_size`` processes on this machine,
    each inside an initialised process group, and return what rank 0's ``fn`` returned.

    Args:
        fn: the work of one process; with ``spawn`` it must be importable (a module-level
            function) and ``args`` picklable.
        world_size: number of processes.
        args: further arguments of ``fn`` (tensors are shared, not copied, on CPU).
        device: ``cpu`` (backend ``gloo``) or ``cuda`` (``nccl``; process ``rank`` uses
            GPU ``rank``).
        threads: torch threads per process; by default the CPU cores shared out.
        start_method: ``spawn`` (safe) or ``fork`` (faster to start, but may hang when
            the parent has already used OpenMP threads).

    Raises:
        ValueError: bad ``world_size`` or ``device``, or more GPUs asked than present.
        torch.multiprocessing.ProcessRaisedException: ``fn`` raised in a process.
    """
    if world_size < 1:
        raise ValueError(f"world_size must be >= 1, got {world_size}")
    if device not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}")
    if device == "cuda" and world_size > torch.cuda.device_count():
        raise ValueError(
            f"{world_size} processes need as many GPUs; {torch.cuda.device_count()} found"
        )
    threads = threads or max(1, (os.cpu_count() or 1) // world_size)
    with tempfile.TemporaryDirectory(prefix="discover-ddp-") as folder:
        rendezvous, result = Path(folder) / "rendezvous", Path(folder) / "result.pt"
        mp.start_processes(
            _process,
            args=(fn, world_size, device, threads, str(rendezvous), str(result), tuple(args)),
            nprocs=world_size,
            start_method=start_method,
        )
        return torch.load(result, weights_only=False)


def _process(
    rank: int,
    fn: Callable[..., Any],
    world_size: int,
    device: str,
    threads: int,
    rendezvous: str,
    result: str,
    args: tuple[Any, ...],
) -> None:
    """One process of :func:`run_data_parallel`: join the group, run ``fn``, leave."""
    torch.set_num_threads(threads)
    if device == "cuda":
        torch.cuda.set_device(rank)
    backend = "nccl" if device == "cuda" else "gloo"
    dist.init_process_group(
        backend, init_method=f"file://{rendezvous}", rank=rank, world_size=world_size
    )
    try:
        value = fn(rank, world_size, *args)
        if rank == 0:
            torch.save(value, result)
        if dist.is_initialized():  # unless fn left the group itself (leave_group)
            dist.barrier()  # nobody leaves while a peer still talks to it (gloo aborts then)
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def _shared() -> bool:
    """Whether this process is in a process group with others."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def together(step: Callable[[], T]) -> T:
    """``step()`` on every process of the group, after which every process learns whether
    it failed anywhere: the first process (by rank) where it failed raises its error, every
    other process :class:`PeerFailed` (naming that process and its error), so that an error
    met everywhere is reported once. Checks that may fail on one process only (its data or
    run directory) go through it before any shared work, so that no process waits in a
    collective for one that has stopped. ``step()`` alone outside a group."""
    if not _shared():
        return step()
    value, error = None, None
    try:
        value = step()
    except Exception as err:
        error = err
    failures: list[str | None] = [None] * dist.get_world_size()
    dist.all_gather_object(failures, None if error is None else _first_line(error))
    failed = [(rank, text) for rank, text in enumerate(failures) if text is not None]
    if not failed:
        return value  # type: ignore[return-value]
    rank, text = failed[0]
    if rank == dist.get_rank() and error is not None:
        raise error
    raise PeerFailed(f"process {rank} of the run stopped: {text}")


def from_rank_zero(compute: Callable[[], T]) -> T:
    """``compute()`` run on rank 0 alone and sent to every process of the group; an
    exception it raises there is raised on every process. For results every process must
    share but that do not repeat exactly from one process to another (a search with a
    wall-clock budget or threads). ``compute()`` itself outside a group."""
    if not _shared():
        return compute()
    if dist.get_rank() == 0:
        try:
            value = compute()
        except Exception as err:
            dist.broadcast_object_list([(False, _portable(err))], src=0)
            raise
        dist.broadcast_object_list([(True, value)], src=0)
        return value
    message: list[Any] = [None]
    dist.broadcast_object_list(message, src=0)
    done, value = message[0]
    if not done:
        raise value
    return value


def share_folder(folder: Path) -> None:
    """Give every process of the group rank 0's files under ``folder``: the others write
    them at the same paths under their own ``folder`` (replacing theirs). Nothing
    outside a group."""
    if not _shared():
        return
    source = dist.get_rank() == 0
    files = sorted(p for p in folder.rglob("*") if p.is_file()) if source else []
    names = [[p.relative_to(folder).as_posix() for p in files]]
    dist.broadcast_object_list(names, src=0)
    for name in names[0]:
        content = [(folder / name).read_bytes() if source else None]
        dist.broadcast_object_list(content, src=0)
        if not source:
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(content[0])


def leave_group() -> bool:
    """End the work shared among processes: every process meets the others (a barrier, so
    that none leaves while a peer still talks to it) and leaves the group. Returns whether
    this process goes on, alone: rank 0 (or the only process)."""
    if not (dist.is_available() and dist.is_initialized()):
        return True
    rank = dist.get_rank()
    dist.barrier()
    dist.destroy_process_group()
    return rank == 0


PEER_LOST = ("closed by peer", "reset by peer", "broken pipe")
"""How gloo words a collective's failure because another process of the group stopped."""


def lost_peer(err: BaseException) -> bool:
    """Whether ``err`` is a collective's failure because another process of the group
    stopped (that process reports its own error; ``torchrun`` then ends this one)."""
    text = str(err).lower()  # torch's DistNetworkError is a RuntimeError too
    return isinstance(err, RuntimeError) and any(words in text for words in PEER_LOST)


def _first_line(err: BaseException) -> str:
    return f"{type(err).__name__}: {next(iter(str(err).strip().splitlines()), '')}"


def _portable(err: Exception) -> Exception:
    """``err`` itself if it can be sent to another process, else a ``RuntimeError`` (a
    ``UserError`` for a user's error) with its type and message."""
    try:
        pickle.loads(pickle.dumps(err))
    except Exception:
        kind = UserError if isinstance(err, UserError) else RuntimeError
        return kind(f"{type(err).__name__}: {err}")
    return err
