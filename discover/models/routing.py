"""Unit-hydrograph routing: a causal convolution over the whole series, after the time loop."""

from __future__ import annotations

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable
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

    Every series at once, linear in the series length: forward as one fused
    multiply-add of the whole series per lag (cheaper than a depthwise ``conv1d``, which
    torch on CPU runs channel by channel), backward as depthwise convolutions. Water
    produced in the last ``lag − 1`` days is partly still in the kernel at the end.
    """
    days, steps, rest = weights.shape[0], runoff.shape[0], runoff.shape[1:]
    series = runoff.reshape(steps, -1)  # [time, channel]
    kernel = weights.expand(days, *rest).reshape(days, -1)  # [lag, channel]
    return _CausalConvolution.apply(series, kernel).reshape(steps, *rest)


class _CausalConvolution(torch.autograd.Function):
    """``out[t, c] = Σ_k kernel[k, c]·series[t − k, c]`` for series [time, channel] and
    kernel [lag, channel]. Forward: the products of each lag added in place (one pass
    over the series per lag); backward: both gradients as depthwise convolutions
    (torch's own gradient of the kernel of a depthwise ``conv1d`` is several times slower
    than the convolution, and grows faster than the series length on two threads)."""

    @staticmethod
    def forward(ctx, series: Tensor, kernel: Tensor) -> Tensor:
        ctx.save_for_backward(series, kernel)
        out = series * kernel[0]
        for k in range(1, min(kernel.shape[0], series.shape[0])):
            out[k:].addcmul_(series[:-k], kernel[k])
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, Tensor | None]:
        series, kernel = ctx.saved_tensors
        lags, channels = kernel.shape
        grad, kernel = grad.T, kernel.T  # [channel, time], [channel, lag]
        grad_series = grad_kernel = None
        if ctx.needs_input_grad[0]:  # Σ_k kernel[c, k]·grad[c, s + k]
            ahead = functional.pad(grad, (0, lags - 1))
            grad_series = functional.conv1d(ahead[None], kernel[:, None], groups=channels)[0].T
        if ctx.needs_input_grad[1]:  # Σ_t grad[c, t]·series[c, t − k]
            padded = functional.pad(series.T, (lags - 1, 0))
            lagged = functional.conv1d(padded[None], grad[:, None], groups=channels)[0]
            grad_kernel = lagged.flip(-1).T
        return grad_series, grad_kernel
