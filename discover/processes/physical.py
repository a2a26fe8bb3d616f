"""Physical process: the textbook function, optionally with learnable parameters."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch
from torch import Tensor, nn

from discover.processes.base import OutputRange, Process


class Physical(Process):
    """Wrap a textbook function ``function(**inputs, **parameters) -> Tensor`` (kept as
    :attr:`law`).

    Args:
        function: a torch function of the named inputs (and parameters) as keywords.
        inputs: names of the inputs the function takes.
        parameters: learnable scalar parameters and their initial values.
        output_range: declared range of the output (documentation and checks only).
        name: a readable name for reports, e.g. ``"pet * min(1, soil_wetness / lp)"``.
    """

    kind = "physical"

    def __init__(
        self,
        function: Callable[..., Tensor],
        inputs: Sequence[str],
        parameters: Mapping[str, float] | None = None,
        output_range: OutputRange | str | None = None,
        name: str | None = None,
    ):
        super().__init__(inputs, output_range)
        clash = set(parameters or {}) & set(self.inputs)
        if clash:
            raise ValueError(f"names {sorted(clash)} are both inputs and parameters")
        self.law = function
        self.parameters_ = nn.ParameterDict(
            {k: nn.Parameter(torch.tensor(float(v))) for k, v in (parameters or {}).items()}
        )
        self.name = name or getattr(function, "__name__", "physical")

    def evaluate(self, args: Sequence[Tensor]) -> Tensor:
        kwargs = dict(zip(self.inputs, args, strict=True))
        if len(self.parameters_):  # ParameterDict.items() is slow: skip it when empty
            kwargs.update(self.parameters_.items())
        return self.law(**kwargs)

    def function(self, dtype: torch.dtype) -> Callable[[Sequence[Tensor]], Tensor]:
        """:meth:`evaluate` with the parameters taken once (:meth:`keywords`)."""
        law, inputs, fixed = self.law, self.inputs, self.keywords()
        return lambda args: law(**dict(zip(inputs, args, strict=True)), **fixed)

    def keywords(self) -> dict[str, Tensor]:
        """The learnable parameters by name, as :attr:`law` takes them besides the inputs
        (the parameters themselves: what trains them changes them in place); taken once
        for many calls, since ``ParameterDict.items()`` costs microseconds a call."""
        return dict(self.parameters_.items())

    def describe(self) -> str:
        return f"physical {self.name}"
