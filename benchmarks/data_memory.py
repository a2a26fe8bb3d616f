"""Memory of loading a CAMELS-size NetCDF dataset the way a study does (issue #18, item 2).

A synthetic dataset of ``--sites`` (671) sites × ``--years`` (35) years of daily data, ten
time series in float32 (``precipitation``, ``temperature``, ``temperature_min``,
``temperature_max``, ``pet``, ``streamflow``, ``daylength``, ``radiation``, ``swe``,
``vapour_pressure``; 5 % of streamflow missing) and ``--attributes`` (20) static site
attributes, is written in the NetCDF layout of ``docs/data.md`` (``--zarr``: as a Zarr
store) to a temporary folder (``--keep DIR``: there, and kept). A fresh child process
then does what ``discover run`` does before training:
:func:`~discover.stages.models.load_data` (``data.source: netcdf``) and
:func:`~discover.stages.models.build_workflow`, an
:class:`~discover.workflows.hbv.HBVWorkflow` holding the ``[time, site]`` tensors of
the study (``dtype: float32`` unless ``--dtype``; an LSTM parameter learner,
``nmul`` 16, ``train.batch`` of 100 sites × 730 days). It prints the resident set after
its imports, after loading and at the end, the peak of loading and the overall peak
(``VmHWM`` of /proc/self/status, and ``getrusage``'s ``ru_maxrss``), and the seconds of
each part; the file is written by another child, so that neither figure counts the
writer's memory.

    python benchmarks/data_memory.py                       # the issue's size
    python benchmarks/data_memory.py --sites 50 --years 5  # a quick run
    python benchmarks/data_memory.py --zarr                # a Zarr store (needs zarr)

The last line reads ``data memory: peak <g> GiB loading <n> sites x <d> days x <v>
variables (<size on disk> GiB on disk)``.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

GiB = 2**30
ATTRIBUTES = {"area": "km2", "latitude": "degrees_north", "longitude": "degrees_east"}
"""Standard attributes of the synthetic set with their units; the others are unitless."""


def resident() -> tuple[int, int]:
    """Current and peak resident set of this process (bytes; ``VmRSS``, ``VmHWM`` of
    /proc/self/status: Linux)."""
    status = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        status[key] = value
    return int(status["VmRSS"].split()[0]) * 1024, int(status["VmHWM"].split()[0]) * 1024


def write_dataset(path: Path, sites: int, years: int, n_attributes: int) -> None:
    """A synthetic CAMELS-size dataset at ``path`` (float32 series [time, site]): a Zarr
    store when ``path`` ends in ``.zarr``, else a NetCDF file."""
    rng = np.random.default_rng(0)
    times = pd.date_range("1980-01-01", periods=round(years * 365.25), freq="D")
    shape = (len(times), sites)
    season = np.sin(2 * np.pi * times.dayofyear.to_numpy() / 365.25)[:, None]

    def daily(values: np.ndarray) -> np.ndarray:
        return np.broadcast_to(values, shape).astype(np.float32)

    temperature = daily(10 + 12 * season + rng.normal(0, 3, shape))
    streamflow = daily(rng.gamma(2.0, 0.4, shape))
    streamflow[rng.random(shape) < 0.05] = np.nan
    series = {
        "precipitation": ("mm/day", daily(rng.gamma(0.6, 8.0, shape) * (rng.random(shape) < 0.5))),
        "temperature": ("degC", temperature),
        "temperature_min": ("degC", temperature - 4),
        "temperature_max": ("degC", temperature + 4),
        "pet": ("mm/day", daily(np.clip(2 + 1.5 * season + rng.normal(0, 0.3, shape), 0, None))),
        "streamflow": ("mm/day", streamflow),
        "daylength": ("s", daily(43200 + 10000 * season)),
        "radiation": ("W/m2", daily(200 + 100 * season + rng.normal(0, 20, shape))),
        "swe": ("mm", daily(np.clip(-50 * season, 0, None))),
        "vapour_pressure": ("Pa", daily(rng.uniform(300, 2000, shape))),
    }
    data = {
        name: (("time", "site"), values, {"units": unit, "role": role_of(name)})
        for name, (unit, values) in series.items()
    }
    bounds = {"area": (10, 5000), "latitude": (30, 48), "longitude": (-124, -67)}
    for i in range(n_attributes):
        name = list(ATTRIBUTES)[i] if i < len(ATTRIBUTES) else f"attribute_{i}"
        low, high = bounds.get(name, (0, 1))
        attrs = {"units": ATTRIBUTES.get(name, "1"), "role": "attribute"}
        data[name] = (("site",), rng.uniform(low, high, sites), attrs)
    site_ids = [f"{i:08d}" for i in range(sites)]
    dataset = xr.Dataset(data, coords={"time": times, "site": site_ids})
    if path.suffix == ".zarr":
        dataset.to_zarr(path)
    else:
        dataset.to_netcdf(path)


def role_of(name: str) -> str:
    """The role of a synthetic series."""
    return "observation" if name == "streamflow" else "forcing"


def load_as_a_study(path: Path, dtype: str) -> None:
    """Load ``path`` and build the study's workflow as ``discover run`` does; print
    the resident set after imports, the peak and the seconds of each part."""
    started = time.perf_counter()
    from discover.config import parse_config
    from discover.stages.models import build_workflow, load_data

    imported, _ = resident()
    config = parse_config(
        {
            "seed": 0,
            "dtype": dtype,
            "data": {"source": "netcdf", "path": str(path)},
            "model": {"type": "hbv", "warmup": 365, "nmul": 16, "parameters": "lstm"},
            "train": {"split": 0.7, "batch": {"sites": 100, "days": 730, "warmup": 365}},
        }
    )
    loading = time.perf_counter()
    data = load_data(config, path.parent)
    building = time.perf_counter()
    loaded, loading_peak = resident()
    workflow = build_workflow(config, path.parent, data)
    done = time.perf_counter()
    now, peak = resident()
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(f"resident after imports: {imported / GiB:.2f} GiB ({loading - started:.1f} s)")
    print(
        f"load_data: {building - loading:.1f} s, resident {loaded / GiB:.2f} GiB, "
        f"peak {loading_peak / GiB:.2f} GiB; build_workflow: {done - building:.1f} s"
    )
    print(f"resident at the end: {now / GiB:.2f} GiB (holding {len(workflow.sites)} sites)")
    print(f"peak: {peak / GiB:.3f} GiB (VmHWM), {maxrss / GiB:.3f} GiB (ru_maxrss)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=671)
    parser.add_argument("--years", type=int, default=35)
    parser.add_argument("--attributes", type=int, default=20)
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument("--keep", type=Path, help="write (or reuse) the file in this folder")
    parser.add_argument("--zarr", action="store_true", help="a Zarr store instead (needs zarr)")
    parser.add_argument("--write", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--load", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.write is not None:
        return write_dataset(args.write, args.sites, args.years, args.attributes)
    if args.load is not None:
        return load_as_a_study(args.load, args.dtype)
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.keep or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"synthetic_{args.sites}x{args.years}y.{'zarr' if args.zarr else 'nc'}"
        itself = [sys.executable, __file__, "--sites", str(args.sites), "--years"]
        itself += [str(args.years), "--attributes", str(args.attributes)]
        if not path.exists():
            started = time.perf_counter()
            subprocess.run([*itself, "--write", str(path)], check=True)
            print(f"written {path.name} in {time.perf_counter() - started:.1f} s")
        print(f"load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        out = subprocess.run(
            [*itself, "--dtype", args.dtype, "--load", str(path)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        print(out, end="")
        peak = float(out.split("peak: ")[1].split()[0])
        with xr.open_dataset(path) as stored:  # the header only
            days = stored.sizes["time"]
            series = sum(v.dims == ("time", "site") for v in stored.data_vars.values())
        files = path.rglob("*") if path.is_dir() else [path]
        size = sum(file.stat().st_size for file in files if file.is_file()) / GiB
        print(
            f"data memory: peak {peak:.2f} GiB loading {args.sites} sites x {days} days x "
            f"{series} variables ({size:.2f} GiB on disk)"
        )


if __name__ == "__main__":
    main()
