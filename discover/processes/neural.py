"""Neural process: an MLP over named, normalised inputs with a range-bounded output."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch
from torch import Tensor, nn

from discover.processes.base import OutputRange, Process

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "silu": nn.SiLU,
    "gelu": nn.GELU,
    "softplus": nn.Softplus,
}


class Neural(Process):
    """A multilayer perceptron standing in for an unknown process.

    Inputs are standardised with ``(x - loc) / scale`` (set from data with
    :meth:`set_normalisation`); the raw network output is mapped into ``output_range`` by
    construction (sigmoid for ``[a, b]``, ``output_scale`` times softplus for ``>= a`` or
    ``<= b``, ``output_scale`` times the identity when unbounded), so the output can never
    leave the declared range. An end may be set by an input, evaluated at the raw
    (unnormalised) inputs: ``0 <= out <= pet`` gives ``pet·sigmoid(z)``.

    Args:
        inputs: names of the inputs.
        output_range: e.g. ``"[0, 1]"``, ``">=0"``, ``"0 <= out <= pet"`` (an end set
            by one of ``inputs``) or ``None`` for unbounded.
        hidden: widths of the hidden layers.
        activation: one of ``tanh``, ``relu``, ``silu``, ``gelu``, ``softplus``.
        output_scale: typical magnitude of an output with an open end, in its units.
    """

    kind = "neural"

    def __init__(
        self,
        inputs: Sequence[str],
        output_range: OutputRange | str | None = None,
        hidden: Sequence[int] = (32, 32),
        activation: str = "tanh",
        output_scale: float = 1.0,
    ):
        super().__init__(inputs, output_range)
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; choose from {list(ACTIVATIONS)}")
        if output_scale <= 0:
            raise ValueError(f"output_scale must be positive, got {output_scale}")
        widths = [len(self.inputs), *hidden, 1]
        layers: list[nn.Module] = []
        for i, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
            layers.append(nn.Linear(n_in, n_out))
            if i < len(widths) - 2:
                layers.append(ACTIVATIONS[activation]())
        self.network = nn.Sequential(*layers)
        self.hidden = tuple(hidden)
        self.activation = activation
        self.register_buffer("loc", torch.zeros(len(self.inputs)))
        self.register_buffer("scale", torch.ones(len(self.inputs)))
        self.register_buffer("output_scale", torch.tensor(float(output_scale)))

    def set_normalisation(self, samples: Mapping[str, Tensor]) -> None:
        """Set input location and scale from typical values of each input (any shape)."""
        loc, scale = [], []
        for name in self.inputs:
            values = torch.as_tensor(samples[name], dtype=torch.float64).reshape(-1)
            values = values[torch.isfinite(values)]
            if values.numel() == 0:
                raise ValueError(f"no finite values to normalise input {name!r}")
            loc.append(values.mean())
            std = values.std() if values.numel() > 1 else torch.tensor(0.0)
            scale.append(std if std > 0 else values.abs().mean().clamp_min(1.0))
        self.loc.copy_(torch.stack(loc))
        self.scale.copy_(torch.stack(scale))

    def evaluate(self, args: Sequence[Tensor]) -> Tensor:
        return self._function(args[0].dtype, fold=False)(args)

    def function(self, dtype: torch.dtype) -> Callable[[Sequence[Tensor]], Tensor]:
        """:meth:`evaluate` for inputs of ``dtype`` with what does not depend on them
        taken once (an ODE solver calls it thousands of times per simulation): the
        standardisation folded into the first layer (``W / scale`` and ``b - (W / scale)
        @ loc``: the same function up to rounding, two operations fewer a call)."""
        return self._function(dtype, fold=True)

    def _function(self, dtype: torch.dtype, fold: bool) -> Callable[[Sequence[Tensor]], Tensor]:
        """The operations of ``self.network`` on the standardised [..., input] stack
        without a module call per layer: the stack as a matrix [rows, input] through one
        ``addmm`` a layer with its weights transposed once (what ``nn.functional.linear``
        does for a matrix or a contiguous 3-d stack, without its per-call transposes and
        reshapes), ``fold``: with the standardisation folded into the first layer."""
        loc, scale = self.loc.to(dtype), self.scale.to(dtype)
        output_scale, output_range, inputs = (
            self.output_scale.to(dtype),
            self.output_range,
            self.inputs,
        )
        modules = list(self.network)  # linear layers, each but the last followed by its activation
        layers = [
            [layer.weight, layer.bias, modules[i + 1].forward if i + 1 < len(modules) else None]
            for i, layer in enumerate(modules)
            if isinstance(layer, nn.Linear)
        ]
        if fold:
            layers[0][0] = layers[0][0] / scale
            layers[0][1] = layers[0][1] - layers[0][0] @ loc
        plan = [(bias, weight.t(), after) for weight, bias, after in layers]
        bounded_by_inputs = bool(output_range.inputs)
        width = len(inputs)

        def evaluate(args: Sequence[Tensor]) -> Tensor:
            x = torch.stack(list(args), dim=-1)
            if not fold:
                x = (x - loc) / scale
            shape = x.shape[:-1]
            if len(shape) != 1:
                x = x.reshape(-1, width)
            for bias, weight_t, after in plan:
                x = torch.addmm(bias, x, weight_t)
                if after is not None:
                    x = after(x)
            named = dict(zip(inputs, args, strict=True)) if bounded_by_inputs else None
            return output_range.squash(x.reshape(shape), output_scale, named)

        return evaluate

    def describe(self) -> str:
        width = "x".join(str(h) for h in self.hidden)
        return f"neural MLP {width} ({', '.join(self.inputs)}) -> {self.output_range}"

    def fit_to(
        self,
        target: Callable[[Mapping[str, Tensor]], Tensor],
        samples: Mapping[str, Tensor],
        steps: int = 300,
        lr: float = 1e-2,
        seed: int = 0,
    ) -> float:
        """Warm start: fit the network to ``target`` (e.g. the textbook process) on samples
        of its inputs ``{name: [samples]}``; returns the final mean squared error."""
        generator = torch.Generator().manual_seed(seed)
        inputs = {name: torch.as_tensor(samples[name]) for name in self.inputs}
        with torch.no_grad():
            wanted = target(inputs)
        optimiser = torch.optim.Adam(self.network.parameters(), lr=lr)
        n = wanted.numel()
        error = torch.tensor(float("nan"))
        for _ in range(steps):
            batch = torch.randint(n, (min(n, 1024),), generator=generator)
            optimiser.zero_grad()
            error = ((self({k: v[batch] for k, v in inputs.items()}) - wanted[batch]) ** 2).mean()
            error.backward()
            optimiser.step()
        return float(error.detach())
