"""Input importance of a slot: SHAP values of its function over the probed samples.

The SHAP values are the exact interventional Shapley values that shap's ``Exact``
explainer with an ``Independent`` masker computes (a feature left out of a coalition takes
the values of a small background sample), evaluated here for all samples and coalitions
in a few large batches, which is much faster than shap's row-by-row loop. A slot with k
inputs costs ``2**k * samples * background`` evaluations of its function.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from discover.processes.base import Process

MAX_INPUTS = 10
"""Exact Shapley values need 2**k coalitions; slots with more inputs are refused."""


@dataclass(frozen=True)
class InputRanking:
    """SHAP values of one slot over its probed samples.

    Attributes:
        names: input names, in the slot's order.
        shap_values: ``[samples, len(names)]``, in the slot's output units.
        X: the explained samples ``[samples, len(names)]``.
        base_value: mean output over the background sample.
    """

    names: tuple[str, ...]
    shap_values: np.ndarray
    X: np.ndarray
    base_value: float

    @property
    def mean_abs(self) -> dict[str, float]:
        """Input name → mean |SHAP value| (output units)."""
        values = np.mean(np.abs(self.shap_values), axis=0)
        return {n: float(v) for n, v in zip(self.names, values, strict=True)}

    def ranked(self) -> list[tuple[str, float]]:
        """``(name, mean |SHAP|)`` pairs, most important first."""
        return sorted(self.mean_abs.items(), key=lambda item: -item[1])

    def relative(self) -> dict[str, float]:
        """Mean |SHAP| of each input divided by the largest one (0 to 1)."""
        scores = self.mean_abs
        top = max(scores.values())
        return {n: (v / top if top > 0 else 0.0) for n, v in scores.items()}

    def keep(self, threshold: float = 0.05) -> list[str]:
        """Inputs whose relative importance is at least ``threshold``, in slot order."""
        if not 0 <= threshold <= 1:
            raise ValueError(f"threshold must be within [0, 1], got {threshold}")
        relative = self.relative()
        return [n for n in self.names if relative[n] >= threshold]

    def to_dict(self) -> dict[str, object]:
        """``{"ranking": [{"input", "mean_abs_shap", "relative"}...], "base_value"}``."""
        relative = self.relative()
        return {
            "ranking": [
                {"input": n, "mean_abs_shap": v, "relative": relative[n]} for n, v in self.ranked()
            ],
            "base_value": self.base_value,
        }

    def save_plot(self, path: str | Path, title: str | None = None) -> Path:
        """SHAP summary (beeswarm) plot as PNG: one row per input, x = SHAP value."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import shap

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        shap.summary_plot(self.shap_values, self.X, feature_names=list(self.names), show=False)
        figure = plt.gcf()
        axes = figure.axes[0]
        axes.set_xlabel("SHAP value (effect on the slot's output, output units)")
        axes.set_ylabel("input")
        if title:
            axes.set_title(title)
        figure.savefig(path, dpi=120, bbox_inches="tight")
        plt.close(figure)
        return path

    def write(self, directory: str | Path, slot: str) -> tuple[Path, Path]:
        """Write ``importance_<slot>.json`` and ``shap_<slot>.png`` into ``directory``."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        json_path = directory / f"importance_{slot}.json"
        json_path.write_text(json.dumps({"slot": slot, **self.to_dict()}, indent=2))
        png_path = self.save_plot(directory / f"shap_{slot}.png", title=f"SHAP summary: {slot}")
        return json_path, png_path


def process_function(process: Process) -> Callable[[np.ndarray], np.ndarray]:
    """``f(X) -> [samples]`` evaluating ``process`` on ``X`` ``[samples, len(inputs)]``."""
    parameter = next(process.parameters(), None)
    dtype = parameter.dtype if parameter is not None else torch.get_default_dtype()

    def evaluate(X: np.ndarray) -> np.ndarray:
        tensor = torch.as_tensor(X, dtype=dtype)
        inputs = {name: tensor[:, j] for j, name in enumerate(process.inputs)}
        with torch.no_grad():
            return process(inputs).double().numpy().reshape(-1)

    return evaluate


def shapley_values(
    f: Callable[[np.ndarray], np.ndarray],
    X: np.ndarray,
    background: np.ndarray,
    chunk_rows: int = 500_000,
) -> tuple[np.ndarray, float]:
    """Exact interventional Shapley values of ``f`` at each row of ``X``.

    Args:
        f: vectorised function ``[rows, k] -> [rows]``.
        X: samples to explain ``[samples, k]``.
        background: reference samples ``[b, k]`` standing in for left-out inputs.
        chunk_rows: largest batch passed to ``f`` at once.

    Returns:
        SHAP values ``[samples, k]`` and the base value (mean of ``f`` on the background).
    """
    n, k = X.shape
    if k > MAX_INPUTS:
        raise ValueError(f"{k} inputs: exact Shapley values are limited to {MAX_INPUTS}")
    masks = np.array([[(m >> j) & 1 for j in range(k)] for m in range(2**k)], dtype=bool)
    value = np.empty((2**k, n))
    samples_per_chunk = max(1, chunk_rows // len(background))
    for m, mask in enumerate(masks):
        for start in range(0, n, samples_per_chunk):
            rows = X[start : start + samples_per_chunk]
            mixed = np.where(mask, rows[:, None, :], background[None, :, :])
            out = f(mixed.reshape(-1, k)).reshape(len(rows), len(background))
            value[m, start : start + len(rows)] = out.mean(axis=1)
    sizes = masks.sum(axis=1)
    phi = np.zeros((n, k))
    for j in range(k):
        without = np.flatnonzero(~masks[:, j])
        weights = np.array(
            [math.factorial(sizes[m]) * math.factorial(k - sizes[m] - 1) for m in without]
        ) / math.factorial(k)
        phi[:, j] = weights @ (value[without + (1 << j)] - value[without])
    return phi, float(value[0].mean())


def rank_inputs(
    process: Process,
    X: np.ndarray,
    background_size: int = 50,
    seed: int = 0,
) -> InputRanking:
    """Rank a slot's inputs by mean |SHAP value| over the probed samples.

    Args:
        process: the slot's process (usually ``Neural``), inputs in its order.
        X: probed inputs ``[samples, len(process.inputs)]``.
        background_size: size of the background sample drawn from ``X`` (seeded).
        seed: seed of the background draw.
    """
    X = np.asarray(X, dtype=float)
    names: Sequence[str] = process.inputs
    if X.ndim != 2 or X.shape[1] != len(names):
        raise ValueError(f"X must have shape [samples, {len(names)}] for inputs {list(names)}")
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(X), size=min(background_size, len(X)), replace=False)
    values, base = shapley_values(process_function(process), X, X[np.sort(pick)])
    return InputRanking(tuple(names), values, X, base)
