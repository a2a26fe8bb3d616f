"""Atomic checkpoints that load without executing code."""

from __future__ import annotations

import glob
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

import torch

from discover.errors import UserError


class CheckpointError(UserError):
    """A checkpoint file cannot be read safely; the message names the file."""


def save_checkpoint(state: dict[str, Any], path: str | Path) -> None:
    """Write ``state`` to ``path`` atomically: a temporary file in the same folder, then rename.

    A run killed while writing leaves the previous checkpoint intact; the temporary files
    such a run left behind are removed by the next successful save (one writer per path).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            torch.save(state, stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    for leftover in path.parent.glob(f"{glob.escape(path.name)}.*.tmp"):
        leftover.unlink(missing_ok=True)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint with ``weights_only=True``: tensors and plain data only, no code runs.

    Raises:
        FileNotFoundError: no checkpoint at ``path``.
        CheckpointError: the file is not a readable checkpoint (corrupt, or holding objects
            other than tensors and plain data).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError:
        raise CheckpointError(
            f"cannot read checkpoint {path}: it holds objects other than tensors and plain "
            "data, and loading them could run code; it was not written by discover"
        ) from None
    except Exception as err:  # torch raises several types for corrupt files
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(f"cannot read checkpoint {path}: {first_line}") from None
