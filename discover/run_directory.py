"""A run directory that is ``discover``'s own: guarded, locked, staged (docs/run_directory.md).

``discover run`` writes only into a folder that is new, empty or marked by an earlier run
(the marker ``.discover-run.json`` records the ``discover`` version and every file the runs
wrote there). A lock file keeps a second run out. The run writes into the staging folder
``.staging/`` (checkpoints included); only when every stage succeeded are its files moved in
place of the previous results, of which only files the marker records are removed. A run
that fails or is killed leaves the previous results as they were, and its staging folder
for ``--resume``. A run shared among processes (``torchrun``) is written by rank 0 alone
(:func:`shared_run`).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import discover
from discover.errors import UserError

log = logging.getLogger("discover")

MARKER = ".discover-run.json"
"""Marks a folder as a run directory: ``{"discover": version, "created", "updated", "files"}``."""
LOCK = ".discover-run.lock"
"""Held while a run writes: ``{"pid", "host", "started"}``."""
STAGING = ".staging"
"""Where a run writes its results and checkpoints until every stage has succeeded."""
SWAP = ".discover-swap"
"""Holds the previous results for the moment the new ones are moved in."""
CHECKPOINT = "checkpoints/last.pt"
"""The checkpoint of the main model, which ``--resume`` continues from."""


class RunDirectoryRefused(UserError):
    """The folder given as a run directory cannot be used; the message names it and says
    what to do."""


def prepare(out: str | Path, resume: bool) -> Path:
    """Check that ``out`` may hold this run and mark it as a run directory.

    Raises:
        RunDirectoryRefused: ``out`` is a file, cannot be created or written, is neither
            empty nor a run directory, or (``resume``) holds no checkpoint to resume from.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise RunDirectoryRefused(f"--out {out} is a file, not a folder; choose a folder")
    if resume:
        _check_resumable(out)
    if out.is_dir() and not (out / MARKER).exists() and any(out.iterdir()):
        raise RunDirectoryRefused(
            f"{out} is not empty and was not written by discover (it has no {MARKER}); "
            "choose a new or empty folder for --out"
        )
    if out.is_dir() and not os.access(out, os.W_OK | os.X_OK):
        raise RunDirectoryRefused(f"cannot write the run directory {out}: permission denied")
    try:
        out.mkdir(parents=True, exist_ok=True)
        if not (out / MARKER).exists():
            _write_marker(out, {"created": _now(), "files": []})
    except OSError as err:
        raise RunDirectoryRefused(f"cannot write the run directory {out}: {_reason(err)}") from None
    _read_marker(out)  # a corrupt marker is refused now, not after the run
    return out


def _check_resumable(out: Path) -> None:
    if not out.is_dir():
        why = "does not exist"
    elif not any(out.iterdir()):
        why = "is empty"
    elif not ((out / STAGING / CHECKPOINT).exists() or (out / CHECKPOINT).exists()):
        why = f"holds no checkpoint ({CHECKPOINT})"
    else:
        return
    raise RunDirectoryRefused(f"cannot resume: {out} {why}; run without --resume")


def owned_files(folder: str | Path) -> set[str]:
    """The files (paths relative to ``folder``) that its marker records as written by
    ``discover``; empty when ``folder`` is not a run directory."""
    folder = Path(folder)
    if not (folder / MARKER).exists():
        return set()
    return set(_read_marker(folder)["files"])


def record_files(folder: str | Path, files: Iterable[str | Path]) -> None:
    """Add ``files`` (paths relative to ``folder``) to its marker, if it has one."""
    folder = Path(folder)
    if not (folder / MARKER).exists():
        return
    marker = _read_marker(folder)
    marker["files"] = sorted({*marker["files"], *(Path(f).as_posix() for f in files)})
    _write_marker(folder, marker)


def _read_marker(folder: Path) -> dict[str, Any]:
    path = folder / MARKER
    try:
        marker = json.loads(path.read_text())
        if not isinstance(marker, dict) or not isinstance(marker.get("files"), list):
            raise ValueError("no list 'files'")
    except (OSError, ValueError) as err:
        raise RunDirectoryRefused(
            f"{path} is unreadable ({_reason(err)}); it marks {folder} as a run directory: "
            "choose another folder for --out"
        ) from None
    return marker


def _write_marker(folder: Path, marker: dict[str, Any]) -> None:
    marker = {**marker, "discover": discover.__version__, "updated": _now()}
    _atomic_write(folder / MARKER, json.dumps(marker, indent=2, sort_keys=True) + "\n")


# -- lock ------------------------------------------------------------------------------
@contextmanager
def locked(out: Path) -> Iterator[None]:
    """Hold ``out``'s lock file for the block; released on every exit path.

    Raises:
        RunDirectoryRefused: a live process holds the lock (the message names its pid,
            host and start time). The lock of a dead process on this host is taken over.
    """
    path = out / LOCK
    mine = {"pid": os.getpid(), "host": socket.gethostname(), "started": _now()}
    while not _create_exclusive(path, json.dumps(mine) + "\n"):
        holder = _read_lock(path)
        if holder is None:  # released meanwhile, or being written: look again
            time.sleep(0.05)
            continue
        if holder.get("host") != mine["host"] or _alive(holder.get("pid")):
            raise RunDirectoryRefused(
                f"{out} is in use by another discover run (pid {holder.get('pid')} on "
                f"{holder.get('host')}, started {holder.get('started')}); wait for it to end "
                "or choose another --out"
            )
        log.warning(
            "taking over the lock of %s left by pid %s (started %s), which is no longer running",
            out,
            holder.get("pid"),
            holder.get("started"),
        )
        stale = path.with_name(f"{LOCK}.{uuid.uuid4().hex}.stale")
        try:
            path.rename(stale)  # only one of several runs taking it over succeeds
            stale.unlink()
        except FileNotFoundError:
            pass
    try:
        yield
    finally:
        holder = _read_lock(path)
        if holder is not None and holder.get("pid") == mine["pid"]:
            path.unlink(missing_ok=True)


def _create_exclusive(path: Path, text: str) -> bool:
    """Create ``path`` holding ``text`` unless it exists (atomically: whole or absent)."""
    tmp = path.with_name(f"{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_text(text)
    try:
        os.link(tmp, path)
        return True
    except FileExistsError:
        return False
    finally:
        tmp.unlink()


def _read_lock(path: Path) -> dict[str, Any] | None:
    try:
        holder = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None
    return holder if isinstance(holder, dict) else None


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


# -- staging ---------------------------------------------------------------------------
@contextmanager
def staged_run(out: str | Path, resume: bool = False) -> Iterator[Path]:
    """Prepare and lock ``out`` and yield the staging folder the run writes into.

    When the block ends without an exception the staged files replace the previous
    results (:func:`swap_in`). When it raises, the previous results stay untouched, the
    exception's message says so, and the staging folder is kept for ``--resume``.
    ``resume`` keeps the checkpoints of the staging folder, else (a finished run) starts
    from a copy of ``out/checkpoints``; without ``resume`` the staging folder starts empty.
    """
    out = prepare(out, resume)
    with locked(out):
        recover_swap(out)
        staging = _fresh_staging(out, resume)
        try:
            yield staging
        except BaseException as err:
            where = (
                f"the previous results in {out} are untouched"
                if "metrics.json" in owned_files(out)
                else f"no results were written to {out}"
            )
            log.error("the run did not finish; %s (its checkpoints: %s)", where, staging)
            _amend(err, where)
            raise
        swap_in(out, staging)


@contextmanager
def shared_run(out: str | Path, resume: bool = False) -> Iterator[Path]:
    """:func:`staged_run` for a run that may be shared among processes (``torchrun``).

    Rank 0 alone owns ``out`` (marker, lock, staging folder, results). Every other process
    writes into a temporary folder of its own (its checkpoints; nothing of it is kept),
    removed at the end; with ``resume`` it first receives rank 0's checkpoints there, so
    that every process continues from the same state. Every process learns whether rank 0
    could take ``out`` (and the others their folders) before any shared work begins.
    Alone, this is :func:`staged_run`.
    """
    from discover.fit.distributed import share_folder, together
    from discover.fit.world import current_world

    world = current_world()
    with ExitStack() as stack:
        if world.writes:
            staging = together(lambda: stack.enter_context(staged_run(out, resume)))
        else:
            prefix = f"discover-rank{world.rank}-"
            folder = together(
                lambda: stack.enter_context(tempfile.TemporaryDirectory(prefix=prefix))
            )
            staging = Path(folder)
        if resume:
            share_folder(staging / "checkpoints")
        yield staging


def _amend(err: BaseException, text: str) -> None:
    """Append ``; text`` to the message of ``err`` (kept as the same exception)."""
    if isinstance(err, OSError) and err.strerror:
        err.strerror = f"{err.strerror}; {text}"
    elif err.args and isinstance(err.args[0], str):
        err.args = (f"{err.args[0]}; {text}", *err.args[1:])
    else:
        err.add_note(text)


def _fresh_staging(out: Path, resume: bool) -> Path:
    """The empty staging folder, but for checkpoints when resuming."""
    staging = out / STAGING
    if not resume:
        shutil.rmtree(staging, ignore_errors=True)
    elif staging.is_dir():
        for entry in staging.iterdir():
            if entry.name != "checkpoints":
                _remove(entry)
    if resume and not (staging / CHECKPOINT).exists() and (out / "checkpoints").is_dir():
        shutil.rmtree(staging / "checkpoints", ignore_errors=True)
        staging.mkdir(exist_ok=True)
        # hard links: a checkpoint is replaced by a rename, never written in place
        shutil.copytree(out / "checkpoints", staging / "checkpoints", copy_function=_link)
    staging.mkdir(exist_ok=True)
    return staging


def swap_in(out: Path, staging: Path) -> None:
    """Move every file of ``staging`` into ``out`` in place of the previous results.

    The previous files the marker records are removed; files it does not record are never
    touched. If one of them stands where a new file would go, nothing is moved.

    Raises:
        RunDirectoryRefused: a file of ``out`` that ``discover`` did not write is in the way.
    """
    new = sorted(p.relative_to(staging).as_posix() for p in staging.rglob("*") if p.is_file())
    old = sorted(f for f in owned_files(out) if (out / f).is_file())
    foreign = [f for f in new if (out / f).exists() and f not in old]
    if foreign:
        raise RunDirectoryRefused(
            f"{out / foreign[0]} was not written by discover and would be replaced; move it "
            f"away and rerun with --resume (this run's results are in {staging}); "
            f"the previous results in {out} are untouched"
        )
    swap = out / SWAP
    shutil.rmtree(swap, ignore_errors=True)
    marker = _read_marker(out)
    _write_marker(out, {**marker, "swapping": new})  # lets a killed swap be rolled back
    moves: list[tuple[Path, Path]] = []
    try:
        for name in old:
            moves.append(_move(out / name, swap / name))
        for name in new:
            moves.append(_move(staging / name, out / name))
    except BaseException:
        for source, target in reversed(moves):
            _move(target, source)
        _write_marker(out, marker)
        raise
    _write_marker(out, {**marker, "files": new})
    shutil.rmtree(swap, ignore_errors=True)
    shutil.rmtree(staging)
    for name in old:  # folders the previous run made and left empty
        for parent in (out / name).parents:
            if parent == out or not parent.is_dir() or any(parent.iterdir()):
                break
            parent.rmdir()


def recover_swap(out: Path) -> None:
    """Roll back a swap that a killed process left half done (its marker still names the
    files being swapped in): the new files go back to the staging folder and the previous
    results back in place, as if the swap had not started."""
    marker = _read_marker(out) if (out / MARKER).exists() else {}
    if "swapping" not in marker:
        return
    staging, swap = out / STAGING, out / SWAP
    for name in marker["swapping"]:
        if (out / name).is_file() and not (staging / name).exists():
            _move(out / name, staging / name)
    for name in marker["files"]:
        if (swap / name).is_file():
            _move(swap / name, out / name)
    shutil.rmtree(swap, ignore_errors=True)
    _write_marker(out, {k: v for k, v in marker.items() if k != "swapping"})
    log.warning("%s: rolled back a swap of results that was interrupted", out)


def _move(source: Path, target: Path) -> tuple[Path, Path]:
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(source, target)
    return source, target


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def _link(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f"{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _reason(err: Exception) -> str:
    return err.strerror if isinstance(err, OSError) and err.strerror else str(err)
