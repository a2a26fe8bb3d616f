"""Linear interpolation of forcing series in time."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class LinearInterpolation(nn.Module):
    """Piecewise-linear interpolation of series given at ``times``; constant beyond the ends.

    Args:
        times: increasing sample times [time], or [time, batch]: each row of ``values``
            on its own grid (then ``values`` is [time, batch, ...] and ``t`` is [batch]).
        values: samples [time, ...] (e.g. [time, site, forcing]); must be finite.
    """

    def __init__(self, times: Tensor, values: Tensor):
        super().__init__()
        if times.dim() not in (1, 2) or values.shape[: times.dim()] != times.shape:
            raise ValueError(
                f"times {tuple(times.shape)} and values {tuple(values.shape)} do not match"
            )
        if times.numel() > 1 and not bool((times[1:] > times[:-1]).all()):
            raise ValueError("interpolation times must be strictly increasing")
        if not bool(torch.isfinite(values).all()):
            raise ValueError("forcing values to interpolate contain NaN or inf")
        self.register_buffer("times", times)
        self.register_buffer("values", values)

    def forward(self, t: Tensor) -> Tensor:
        """Values at the scalar time ``t``, shape ``values.shape[1:]`` (per-row grids:
        at the times ``t`` [batch], one per row)."""
        if self.times.shape[0] == 1:
            return self.values[0]
        if self.times.dim() == 2:
            return self._per_row(t)
        t = t.to(self.times.dtype).clamp(self.times[0], self.times[-1])
        right = torch.searchsorted(self.times, t.reshape(1), right=True).clamp(
            1, self.times.numel() - 1
        )[0]
        left = right - 1
        t0, t1 = self.times[left], self.times[right]
        weight = ((t - t0) / (t1 - t0)).to(self.values.dtype)
        return self.values[left] + weight * (self.values[right] - self.values[left])

    def _per_row(self, t: Tensor) -> Tensor:
        grid = self.times.T.contiguous()  # [batch, time]
        t = t.to(grid.dtype).expand(grid.shape[0])
        t = torch.minimum(torch.maximum(t, grid[:, 0]), grid[:, -1])
        right = torch.searchsorted(grid, t.unsqueeze(1), right=True).squeeze(1)
        right = right.clamp(1, grid.shape[1] - 1)
        rows = torch.arange(grid.shape[0], device=grid.device)
        t0, t1 = grid[rows, right - 1], grid[rows, right]
        weight = ((t - t0) / (t1 - t0)).to(self.values.dtype)
        weight = weight.reshape(-1, *[1] * (self.values.dim() - 2))
        left_values, right_values = self.values[right - 1, rows], self.values[right, rows]
        return left_values + weight * (right_values - left_values)
