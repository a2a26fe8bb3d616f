"""The process slot: one named function inside a model, with named inputs and a range."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn


@dataclass(frozen=True)
class OutputRange:
    """Closed interval an output must stay in; ``None`` marks an open end."""

    low: float | None = None
    high: float | None = None

    def __post_init__(self) -> None:
        if self.low is not None and self.high is not None and not self.low < self.high:
            raise ValueError(f"output range needs low < high, got [{self.low}, {self.high}]")

    @classmethod
    def parse(cls, spec: str | Sequence[float | None] | OutputRange | None) -> OutputRange:
        """Read ``">=0"``, ``"<=1"``, ``"[0, 1]"``, ``"real"``/``None`` or ``(low, high)``."""
        if isinstance(spec, OutputRange):
            return spec
        if spec is None:
            return cls()
        if not isinstance(spec, str):
            low, high = spec
            return cls(low, high)
        text = spec.replace(" ", "")
        if text in ("", "real"):
            return cls()
        number = r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"
        if match := re.fullmatch(r">=" + number, text):
            return cls(low=float(match[1]))
        if match := re.fullmatch(r"<=" + number, text):
            return cls(high=float(match[1]))
        if match := re.fullmatch(r"\[" + number + "," + number + r"\]", text):
            return cls(float(match[1]), float(match[2]))
        raise ValueError(f"cannot read output range {spec!r}; use '>=0', '<=1', '[0, 1]' or 'real'")

    def squash(self, z: Tensor, scale: Tensor | float = 1.0) -> Tensor:
        """Map an unbounded tensor into this range: sigmoid for ``[a, b]``, otherwise
        ``scale`` times softplus (one open end) or the identity (no bound)."""
        if self.low is not None and self.high is not None:
            return self.low + (self.high - self.low) * torch.sigmoid(z)
        if self.low is not None:
            return self.low + scale * nn.functional.softplus(z)
        if self.high is not None:
            return self.high - scale * nn.functional.softplus(z)
        return scale * z

    def __str__(self) -> str:
        low = "-inf" if self.low is None else f"{self.low:g}"
        high = "inf" if self.high is None else f"{self.high:g}"
        return f"[{low}, {high}]"

    @property
    def bounded(self) -> bool:
        return self.low is not None or self.high is not None

    def width(self) -> float:
        if self.low is None or self.high is None:
            return math.inf
        return self.high - self.low


class Process(nn.Module):
    """A process slot implementation: named inputs in, one tensor out.

    Every input tensor has the same (broadcastable) shape, e.g. ``[site, nmul]`` inside
    a model's time loop or ``[samples]`` when evaluated on probed data; the output has
    that shape too. Subclasses implement :meth:`evaluate`.

    While :meth:`start_recording` is active the slot keeps (detached) copies of what it
    saw and returned, so the visited domain can be probed after a model run.
    """

    kind: str = "process"

    def __init__(self, inputs: Sequence[str], output_range: OutputRange | str | None = None):
        super().__init__()
        if len(inputs) == 0:
            raise ValueError("a process needs at least one named input")
        if len(set(inputs)) != len(inputs):
            raise ValueError(f"duplicate input names in {list(inputs)}")
        self.inputs: tuple[str, ...] = tuple(inputs)
        self.output_range = OutputRange.parse(output_range)
        self._records: list[tuple[Tensor, Tensor]] | None = None

    def evaluate(self, args: Sequence[Tensor]) -> Tensor:
        """Compute the output from the inputs, given in the order of ``self.inputs``."""
        raise NotImplementedError

    def forward(self, inputs: Mapping[str, Tensor]) -> Tensor:
        try:
            args = [inputs[name] for name in self.inputs]
        except KeyError as err:
            raise KeyError(
                f"{self.kind} process needs input {err.args[0]!r}; got {sorted(inputs)}"
            ) from None
        args = list(torch.broadcast_tensors(*args))
        out = self.evaluate(args)
        if self._records is not None:
            stacked = torch.stack([a.detach().reshape(-1) for a in args], dim=-1)
            self._records.append((stacked, out.detach().reshape(-1)))
        return out

    def __call__(self, inputs: Mapping[str, Tensor]) -> Tensor:  # typed for callers
        return super().__call__(inputs)

    @property
    def recording(self) -> bool:
        """Whether :meth:`start_recording` is active (calls are then kept)."""
        return self._records is not None

    def start_recording(self) -> None:
        """Keep every input/output seen from now on (see :meth:`stop_recording`)."""
        self._records = []

    def stop_recording(self) -> tuple[Tensor, Tensor]:
        """Stop recording; return inputs ``[samples, len(inputs)]`` and outputs ``[samples]``."""
        records, self._records = self._records or [], None
        if not records:
            empty = torch.empty(0)
            return empty.reshape(0, len(self.inputs)), empty
        inputs = torch.cat([r[0] for r in records]).cpu()
        outputs = torch.cat([r[1] for r in records]).cpu()
        return inputs, outputs

    def describe(self) -> str:
        """One line for logs and reports."""
        return f"{self.kind}({', '.join(self.inputs)})"
