"""Unit-hydrograph routing: a causal convolution over the whole series, after the time loop."""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional

from discover.processes.base import Process


def unit_hydrograph(weight: Process, shape: Tensor, scale: Tensor, days: int) -> Tensor:
    """Normalised unit hydrograph from a routing slot.

    Args:
        weight: the routing slot, called with ``lag`` (bin midpoints 0.5, 1.5, ... days),
            ``route_shape`` and ``route_scale``; returns unnormalised weights >= 0.
        shape, scale: routing parameters [site, nmul].
        days: kernel length in days.

    Returns:
        Weights [days, site, nmul] that sum to one over the first axis.
    """
    if days < 1:
        raise ValueError(f"routing needs at least one day of kernel, got route_days={days}")
    lag = torch.arange(days, dtype=shape.dtype, device=shape.device).add_(0.5)
    raw = weight(
        {"lag": lag[:, None, None], "route_shape": shape[None], "route_scale": scale[None]}
    )
    raw = torch.broadcast_to(raw, (days, *shape.shape))
    return raw / raw.sum(0, keepdim=True).clamp_min(torch.finfo(raw.dtype).tiny)


def route(runoff: Tensor, weights: Tensor) -> Tensor:
    """Convolve runoff [time, ...] with weights [lag, ...] causally: ``out[t] = Σ_k w[k]·q[t−k]``.

    One depthwise ``conv1d`` over every series at once (cheaper than a sum of shifted
    copies, forward and backward, and it scales linearly with the series length). Water
    produced in the last ``lag − 1`` days is partly still in the kernel at the end.
    """
    days, steps, rest = weights.shape[0], runoff.shape[0], runoff.shape[1:]
    series = runoff.reshape(steps, -1).T.unsqueeze(0)  # [1, channel, time]
    kernel = weights.expand(days, *rest).reshape(days, -1).T.flip(-1).unsqueeze(1)
    padded = functional.pad(series, (days - 1, 0))
    out = functional.conv1d(padded, kernel, groups=series.shape[1])  # [1, channel, time]
    return out[0].T.reshape(steps, *rest)
