"""A model that hosts named process slots which can be swapped at run time."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from torch import nn

from discover.errors import UserError
from discover.processes.base import Process


class SlotError(UserError):
    """A slot name or a slot's inputs do not fit the model."""


class HybridModel(nn.Module):
    """Base class of every model with process slots.

    Subclasses call ``super().__init__(available_inputs, input_bounds)`` with, per slot
    name, the inputs that slot may see (and the bounds the model holds some inputs in),
    then fill the slots with :meth:`set_slot`. Inside the model a slot is evaluated as
    ``self.slots[name](inputs_by_name)``.
    """

    def __init__(
        self,
        available_inputs: Mapping[str, Sequence[str]],
        input_bounds: Mapping[str, tuple[float | None, float | None]] | None = None,
    ):
        super().__init__()
        self.available_inputs: dict[str, tuple[str, ...]] = {
            name: tuple(inputs) for name, inputs in available_inputs.items()
        }
        self.input_bounds: dict[str, tuple[float | None, float | None]] = dict(input_bounds or {})
        """``{input: (low, high)}`` (``None``: unbounded) of slot inputs the model holds in
        bounds by construction (HBV soil wetness in [0, 1], an ODE's bounded states): the
        physical checks do not extrapolate a slot's equation beyond them."""
        self.slots = nn.ModuleDict()

    def add_slot(self, name: str, inputs: Sequence[str]) -> None:
        """Declare a new, still empty slot ``name`` that may see ``inputs`` (e.g. a
        parameter computed from site attributes by a workflow); fill it with :meth:`set_slot`.

        Raises:
            SlotError: the model already has a slot of that name.
        """
        if name in self.available_inputs:
            raise SlotError(f"the model already has a slot {name!r}")
        self.available_inputs[name] = tuple(inputs)

    def set_slot(self, name: str, process: Process) -> Process:
        """Put ``process`` in slot ``name`` (replacing what was there) and return the old one.

        Raises:
            SlotError: unknown slot, or the process asks for an input the slot cannot see.
        """
        if name not in self.available_inputs:
            raise SlotError(
                f"unknown slot {name!r}; this model has {sorted(self.available_inputs)}"
            )
        allowed = self.available_inputs[name]
        missing = [i for i in process.inputs if i not in allowed]
        if missing:
            raise SlotError(
                f"slot {name!r} cannot see input(s) {missing}; it may use {list(allowed)}"
            )
        old = self.slots[name] if name in self.slots else None
        self.slots[name] = process
        return old

    def slot_kinds(self) -> dict[str, str]:
        """Slot name → ``physical``, ``neural`` or ``symbolic``."""
        return {name: slot.kind for name, slot in self.slots.items()}

    def neural_slots(self) -> list[str]:
        """Names of the slots currently filled by neural networks."""
        return [name for name, slot in self.slots.items() if slot.kind == "neural"]
