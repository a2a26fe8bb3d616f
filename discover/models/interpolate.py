"""Linear interpolation of forcing series in time."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class LinearInterpolation(nn.Module):
    """Piecewise-linear interpolation of series given at ``times``; constant beyond the ends.

    Args:
        times: increasing sample times [time].
        values: samples [time, ...] (e.g. [time, site, forcing]); must be finite.
    """

    def __init__(self, times: Tensor, values: Tensor):
        super().__init__()
        if times.dim() != 1 or values.shape[0] != times.shape[0]:
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
        """Values at the scalar time ``t``, shape ``values.shape[1:]``."""
        if self.times.numel() == 1:
            return self.values[0]
        t = t.to(self.times.dtype).clamp(self.times[0], self.times[-1])
        right = torch.searchsorted(self.times, t.reshape(1), right=True).clamp(
            1, self.times.numel() - 1
        )[0]
        left = right - 1
        t0, t1 = self.times[left], self.times[right]
        weight = ((t - t0) / (t1 - t0)).to(self.values.dtype)
        return self.values[left] + weight * (self.values[right] - self.values[left])
