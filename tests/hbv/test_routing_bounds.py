"""The routing bounds hold HBV's standard unit hydrograph: a gamma unit hydrograph within
``HBV_BOUNDS`` reproduces the daily weights of HBV's triangular MAXBAS hydrograph."""

import numpy as np
import pytest
import torch

from discover.models.hbv_processes import HBV_BOUNDS, textbook
from discover.models.routing import unit_hydrograph

DAYS = 15


def triangle_weights(base: float, resolution: int = 10_000) -> np.ndarray:
    """Daily weights [DAYS] of the symmetric triangle on [0, base] days (HBV's MAXBAS)."""
    t = (np.arange(DAYS * resolution) + 0.5) / resolution
    density = np.clip(np.minimum(t, base - t), 0.0, None)
    weights = density.reshape(DAYS, resolution).sum(1)
    return weights / weights.sum()


def best_gamma_error(target: np.ndarray, points: int = 80) -> tuple[float, float]:
    """Least largest daily-weight error of a gamma unit hydrograph over a grid of the
    bounded (shape, scale), and the shape that reaches it."""
    shape_bound, scale_bound = HBV_BOUNDS["route_shape"], HBV_BOUNDS["route_scale"]
    shapes = torch.linspace(shape_bound.low, shape_bound.high, points, dtype=torch.float64)
    scales = torch.linspace(scale_bound.low, scale_bound.high, points, dtype=torch.float64)
    shape, scale = (grid.reshape(-1, 1) for grid in torch.meshgrid(shapes, scales, indexing="ij"))
    weights = unit_hydrograph(textbook("routing"), shape, scale, DAYS)[..., 0]  # [day, grid]
    errors = (weights - torch.from_numpy(target)[:, None]).abs().amax(0)
    best = int(errors.argmin())
    return float(errors[best]), float(shape[best, 0])


@pytest.mark.parametrize("base", [2.0, 2.5])
def test_gamma_within_bounds_reproduces_a_short_maxbas_triangle(base):
    error, shape = best_gamma_error(triangle_weights(base))
    assert error < 0.03
    assert shape > 4.5  # a triangle's peakedness needs shapes near 6 (CV 1/sqrt(6))


def test_triangle_coefficient_of_variation_is_that_of_gamma_shape_six():
    t = np.linspace(0.0, 3.0, 300_001)
    density = np.minimum(t, 3.0 - t)
    mean = (t * density).sum() / density.sum()
    variance = ((t - mean) ** 2 * density).sum() / density.sum()
    shape = mean**2 / variance  # a gamma's 1/CV²
    assert shape == pytest.approx(6.0, rel=1e-3)
    assert HBV_BOUNDS["route_shape"].low < shape < HBV_BOUNDS["route_shape"].high
