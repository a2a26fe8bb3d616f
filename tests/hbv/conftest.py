"""Small weather and parameter makers shared by the HBV tests."""

from __future__ import annotations

import pytest
import torch

from discover.models.hbv_processes import HBV_BOUNDS


def make_weather(days: int, sites: int, seed: int = 0, dtype=torch.float64) -> dict:
    """Daily forcings [days, sites]: intermittent rain, seasonal temperature around 0–15 °C."""
    gen = torch.Generator().manual_seed(seed)
    day = torch.arange(days, dtype=dtype)[:, None]
    season = torch.cos(2 * torch.pi * (day - 200) / 365)
    wet = torch.rand(days, sites, generator=gen, dtype=dtype) < 0.4
    amount = torch.rand(days, sites, generator=gen, dtype=dtype) ** 2 * 30
    temperature = 6 + 10 * season + 3 * torch.randn(days, sites, generator=gen, dtype=dtype)
    return {
        "precipitation": amount * wet,
        "temperature": temperature,
        "pet": (1.5 + 1.5 * season).clamp_min(0.05).expand(days, sites).clone(),
    }


def make_parameters(names, sites: int, nmul: int = 1, seed: int = 0, dtype=torch.float64) -> dict:
    """Random parameters [sites, nmul] uniformly within HBV's bounds."""
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for name in names:
        bound = HBV_BOUNDS[name]
        share = torch.rand(sites, nmul, generator=gen, dtype=dtype)
        out[name] = bound.low + (bound.high - bound.low) * share
    return out


@pytest.fixture(scope="session")
def weather_maker():
    """:func:`make_weather` for tests (test modules cannot import conftest)."""
    return make_weather


@pytest.fixture(scope="session")
def parameter_maker():
    """:func:`make_parameters` for tests."""
    return make_parameters


@pytest.fixture(autouse=True)
def one_thread():
    """Small tensors in a long time loop: one thread avoids waiting on a busy second one."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
