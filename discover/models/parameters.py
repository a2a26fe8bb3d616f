"""Parameter learning (dPL): networks that map data to physical parameters within bounds.

Each learner returns ``{name: tensor}`` in physical units, ready for a model such as
:class:`discover.models.hbv.HBV`: static parameters [site, nmul], dynamic ones
[time, site, nmul]. Values are ``low + (high − low)·sigmoid(z)``, so they can never
leave their bounds.

- :class:`AttributeMLP`: static attributes [site, attr] → static parameters.
- :class:`ForcingLSTM`: a series of inputs [time, site, var] (and static attributes
  repeated in time) → dynamic parameters for the names listed as dynamic, static ones
  (from the last step) for the rest.
- :class:`SiteParameters`: one free value per site and parameter set (classic calibration).

With ``nmul > 1`` parallel parameter sets, the model averages their outputs (see
:class:`discover.models.hbv.HBVOutput`). The sets start spread over the bounds
(:func:`spread_shares`, seeded), so that they explore different parts of the parameter
space from the first step instead of moving as one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence

import torch
from torch import Tensor, nn

from discover.models.hbv_processes import HBV_BOUNDS, Bound


def spread_shares(rows: tuple[int, ...], nmul: int, seed: int = 0) -> Tensor:
    """Starting positions of ``nmul`` parameter sets within each range, as shares of it.

    In each row (e.g. one parameter of one site) the sets take the midpoints
    ``(j + 0.5)/nmul`` of ``nmul`` equal slices of (0, 1), in an order drawn at random per
    row: a centred Latin hypercube, so every set differs from the others in every
    parameter and together they cover each range evenly. With ``nmul == 1`` the one set
    starts mid-range.

    Args:
        rows: leading shape, e.g. ``(sites, parameters)``.
        nmul: number of parameter sets.
        seed: seed of the orders (the global random state is left alone).

    Returns:
        Shares in (0, 1), [*rows, nmul].
    """
    if nmul < 1:
        raise ValueError(f"nmul must be >= 1, got {nmul}")
    generator = torch.Generator().manual_seed(seed)
    order = torch.rand(*rows, nmul, generator=generator).argsort(-1)
    return (order + 0.5) / nmul


class _Bounded(nn.Module):
    """Maps raw network outputs [..., len(names)·nmul] to named parameters within bounds."""

    def __init__(self, names: Sequence[str], nmul: int, bounds: Mapping[str, Bound] | None):
        super().__init__()
        bounds = HBV_BOUNDS if bounds is None else bounds
        unknown = [name for name in names if name not in bounds]
        if unknown:
            raise KeyError(f"no bounds for parameter(s) {unknown}; known are {list(bounds)}")
        if nmul < 1:
            raise ValueError(f"nmul must be >= 1, got {nmul}")
        self.names = tuple(names)
        self.nmul = nmul
        self.bounds = {name: bounds[name] for name in self.names}
        # float64, so that a float64 model's parameters stay within the bounds as written
        # (0.1 stored in float32 is 0.1000000015); a float32 model rounds them when cast
        for end in ("low", "high"):
            ends = [getattr(self.bounds[n], end) for n in self.names]
            self.register_buffer(end, torch.tensor(ends, dtype=torch.float64))

    @property
    def size(self) -> int:
        """Number of raw outputs the network must produce."""
        return len(self.names) * self.nmul

    def scale(self, raw: Tensor, names: Sequence[str] | None = None) -> dict[str, Tensor]:
        """Raw outputs [..., n·nmul] of ``names`` (every name by default, in order) →
        ``{name: [..., nmul]}`` within bounds."""
        names = self.names if names is None else tuple(names)
        index = [self.names.index(name) for name in names]
        raw = raw.unflatten(-1, (len(names), self.nmul))
        low, high = self.low[index].to(raw.dtype)[:, None], self.high[index].to(raw.dtype)[:, None]
        values = torch.clamp(low + (high - low) * torch.sigmoid(raw), low, high)  # rounding
        return dict(zip(names, values.unbind(-2), strict=True))

    def raw(self, values: Mapping[str, float], shares: Tensor) -> Tensor:
        """Raw outputs [..., names, nmul] that give ``values`` for the names given and, for
        the others, the shares ``shares`` [..., names, nmul] of each range."""
        shares = shares.to(torch.float64).clone()
        for i, name in enumerate(self.names):
            if name not in values:
                continue
            bound = self.bounds[name]
            share = (values[name] - bound.low) / (bound.high - bound.low)
            if not 0 < share < 1:
                raise ValueError(
                    f"{name}={values[name]} is not strictly inside {bound.low, bound.high}"
                )
            shares[..., i, :] = share
        return torch.logit(shares).to(torch.get_default_dtype())


class _Standardise(nn.Module):
    """``(x − loc)/scale`` over the last axis, with loc/scale set from data."""

    def __init__(self, size: int):
        super().__init__()
        self.register_buffer("loc", torch.zeros(size))
        self.register_buffer("scale", torch.ones(size))

    def fit(self, samples: Tensor) -> None:
        """Set loc and scale from samples [..., size] (NaN ignored, constant columns kept).

        Moments are taken in float64 one column at a time, so a long forcing record
        ([time·site, size]) is never copied to float64 whole."""
        flat = samples.detach().reshape(-1, samples.shape[-1])
        loc = torch.empty(flat.shape[-1], dtype=torch.float64)
        scale = torch.empty_like(loc)
        for j in range(flat.shape[-1]):
            column = flat[:, j].double()
            loc[j] = column.nanmean()
            scale[j] = (column - loc[j]).pow(2).nanmean().sqrt()
        if not bool(torch.isfinite(loc).all()):
            raise ValueError("every input column needs at least one finite value")
        self.loc.copy_(loc)
        self.scale.copy_(torch.where(scale > 0, scale, torch.ones_like(scale)))

    def forward(self, x: Tensor) -> Tensor:
        return (x - self.loc.to(x.dtype)) / self.scale.to(x.dtype)


def _check_inputs(x: Tensor, dims: int, size: int, what: str) -> None:
    if x.dim() != dims or x.shape[-1] != size:
        raise ValueError(
            f"{what} must have {dims} axes with {size} in the last, got {tuple(x.shape)}"
        )
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{what} contain NaN or inf; fill or drop them first")


def _spread_sets(bounded: _Bounded, output: nn.Linear, seed: int) -> None:
    """Shift the biases of ``output`` so that the parameter sets start at
    :func:`spread_shares` of their bounds (seed ``seed``)."""
    shares = spread_shares((len(bounded.names),), bounded.nmul, seed)
    with torch.no_grad():  # logit(1/2) = 0: a single set keeps the default bias
        output.bias.add_(bounded.raw({}, shares).reshape(-1))


def _redraw(network: nn.Module, seed: int) -> None:
    """Draw the weights of every layer of ``network`` anew, as torch initialises them,
    from ``seed`` (the global random state is left as it was)."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        for layer in network.modules():
            if isinstance(layer, nn.Linear | nn.LSTM):
                layer.reset_parameters()


class AttributeMLP(nn.Module):
    """Static attributes [site, attr] → static parameters ``{name: [site, nmul]}``.

    Args:
        n_attributes: number of attribute columns.
        names: parameter names (e.g. ``model.parameter_names()``).
        nmul: parallel parameter sets per site; their output biases start at
            :func:`spread_shares` of the bounds (nothing added when ``nmul == 1``).
        hidden: widths of the hidden layers.
        bounds: bounds per name (HBV's by default).
        seed: seed of the spread of the sets.
    """

    def __init__(
        self,
        n_attributes: int,
        names: Sequence[str],
        nmul: int = 1,
        hidden: Sequence[int] = (64, 64),
        bounds: Mapping[str, Bound] | None = None,
        seed: int = 0,
    ):
        super().__init__()
        self.bounded = _Bounded(names, nmul, bounds)
        self.normalise = _Standardise(n_attributes)
        widths = [n_attributes, *hidden]
        layers: list[nn.Module] = []
        for n_in, n_out in zip(widths[:-1], widths[1:], strict=True):
            layers += [nn.Linear(n_in, n_out), nn.Tanh()]
        layers.append(nn.Linear(widths[-1], self.bounded.size))
        self.network = nn.Sequential(*layers)
        self.spread_seed = seed
        _spread_sets(self.bounded, layers[-1], seed)

    def redraw(self, seed: int) -> None:
        """New random weights (drawn with ``seed``; the sets' spread is kept), as a
        network built afresh would have: another start of its training."""
        _redraw(self.network, seed)
        _spread_sets(self.bounded, self.network[-1], self.spread_seed)

    def set_normalisation(self, attributes: Tensor) -> None:
        """Standardise attributes with the mean and spread of ``attributes`` [site, attr]."""
        self.normalise.fit(attributes)

    def forward(self, attributes: Tensor) -> dict[str, Tensor]:
        _check_inputs(attributes, 2, self.normalise.loc.numel(), "attributes [site, attr]")
        return self.bounded.scale(self.network(self.normalise(attributes)))


@contextlib.contextmanager
def denormals_flushed(enabled: bool = True) -> Iterator[None]:
    """While inside (and ``enabled``), have the CPU treat denormal numbers (below about
    1e-38 in float32, 2e-308 in float64) as zero, in this thread; as before afterwards
    (denormals kept, the default). An LSTM's gradient decays through denormals on its way
    back over a long window (static parameters come from the last day), and x86 CPUs
    compute on them many times slower: the backward pass of a batch of 100 sites × 730
    days with ``nmul`` 16 and 64 units took 1.4 s with them, 0.7 s without (float32, one
    thread). The trainer trains a model holding a :class:`ForcingLSTM` inside it."""
    if not enabled:
        yield
        return
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(False)


class ForcingLSTM(nn.Module):
    """Input series [time, site, var] (and static attributes [site, attr], repeated in
    time) → parameters; names in ``dynamic`` vary in time ([time, site, nmul]), the
    others are taken from the last step ([site, nmul]).

    Args:
        n_inputs: number of input variables in time (e.g. the forcings).
        names: parameter names.
        nmul: parallel parameter sets per site; their output biases start at
            :func:`spread_shares` of the bounds (nothing added when ``nmul == 1``).
        hidden: LSTM width.
        dynamic: names that vary in time.
        bounds: bounds per name (HBV's by default).
        n_static: number of static attributes given with the series (0: none).
        seed: seed of the spread of the sets.
    """

    def __init__(
        self,
        n_inputs: int,
        names: Sequence[str],
        nmul: int = 1,
        hidden: int = 64,
        dynamic: Sequence[str] = (),
        bounds: Mapping[str, Bound] | None = None,
        n_static: int = 0,
        seed: int = 0,
    ):
        super().__init__()
        self.bounded = _Bounded(names, nmul, bounds)
        missing = [name for name in dynamic if name not in self.bounded.names]
        if missing:
            raise KeyError(f"dynamic parameter(s) {missing} are not among {list(names)}")
        self.dynamic = tuple(name for name in self.bounded.names if name in dynamic)
        rows = [i * nmul + k for i, n in enumerate(names) if n in dynamic for k in range(nmul)]
        self.register_buffer("dynamic_rows", torch.tensor(rows, dtype=torch.long), persistent=False)
        """The head's outputs of the dynamic names, the only ones computed for every day."""
        self.normalise = _Standardise(n_inputs)
        self.normalise_static = _Standardise(n_static)
        self.lstm = nn.LSTM(n_inputs + n_static, hidden)
        self.head = nn.Linear(hidden, self.bounded.size)
        self.spread_seed = seed
        _spread_sets(self.bounded, self.head, seed)

    def redraw(self, seed: int) -> None:
        """New random weights (drawn with ``seed``; the sets' spread is kept), as a
        network built afresh would have: another start of its training."""
        _redraw(nn.ModuleList([self.lstm, self.head]), seed)
        _spread_sets(self.bounded, self.head, self.spread_seed)

    def set_normalisation(self, inputs: Tensor, static: Tensor | None = None) -> None:
        """Standardise each input variable with its mean and spread in ``inputs``
        [..., var], and each static attribute with those of ``static`` [site, attr]."""
        self.normalise.fit(inputs)
        if static is not None:
            self.normalise_static.fit(static)

    def forward(self, inputs: Tensor, static: Tensor | None = None) -> dict[str, Tensor]:
        """Parameters from ``inputs`` [time, site, var] and ``static`` [site, attr]
        (needed when the learner was built with ``n_static`` > 0)."""
        _check_inputs(inputs, 3, self.normalise.loc.numel(), "inputs [time, site, var]")
        series = self.normalise(inputs)
        n_static = self.normalise_static.loc.numel()
        if n_static:
            if static is None:
                raise ValueError(f"this learner needs {n_static} static attributes [site, attr]")
            _check_inputs(static, 2, n_static, "static attributes [site, attr]")
            repeated = self.normalise_static(static).expand(len(series), -1, -1)
            series = torch.cat([series, repeated], -1)
        hidden, _ = self.lstm(series)
        values = self.bounded.scale(self.head(hidden[-1]))  # static ones: the last day's
        if self.dynamic:
            rows = self.dynamic_rows
            daily = nn.functional.linear(hidden, self.head.weight[rows], self.head.bias[rows])
            values.update(self.bounded.scale(daily, self.dynamic))
        return values


class SiteParameters(nn.Module):
    """Free parameters per site and parameter set: direct calibration, the classic baseline.

    Args:
        n_sites: number of sites.
        names: parameter names.
        nmul: parallel parameter sets per site, calibrated at once (a multi-start): per
            site, the sets start at :func:`spread_shares` of each range.
        initial: starting values in physical units for every set (overriding the spread).
        bounds: bounds per name (HBV's by default).
        seed: seed of the spread.
    """

    def __init__(
        self,
        n_sites: int,
        names: Sequence[str],
        nmul: int = 1,
        initial: Mapping[str, float] | None = None,
        bounds: Mapping[str, Bound] | None = None,
        seed: int = 0,
    ):
        super().__init__()
        self.bounded = _Bounded(names, nmul, bounds)
        shares = spread_shares((n_sites, len(self.bounded.names)), nmul, seed)
        self.raw = nn.Parameter(self.bounded.raw(dict(initial or {}), shares).flatten(-2))

    def forward(self, sites: Tensor | slice | None = None) -> dict[str, Tensor]:
        """Parameters ``{name: [site, nmul]}`` of ``sites`` (indices or a slice; all by
        default)."""
        return self.bounded.scale(self.raw if sites is None else self.raw[sites])
