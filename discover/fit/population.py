"""Training loss of a whole population of HBV parameter sets in one batched forward pass.

A population search (:mod:`discover.fit.calibration`) proposes, for every site, ``P``
points of the unit box ``[0, 1]^dim``. A point holds the *shares* of each parameter's
range, for every parameter and parallel set of the site (the values
``low + (high − low)·share`` that :class:`~discover.models.parameters.SiteParameters`
gives for ``raw = logit(share)``), followed by the free constants of the symbolic process
slots (a hypothesis ``pet*soil_wetness**b``): share ``u`` of a constant starting at ``c₀``
means ``c₀ + spread·m·(2u − 1)`` with ``m = |c₀|`` (1 for ``c₀ = 0``), the magnitude the
constant is trained relative to, so the middle of the box is the start.

HBV is vectorised over sites, so a population is a wider batch: the forcings are repeated
``P`` times along the site axis (column ``p·sites + s`` is member ``p`` at site ``s``) and
each symbolic constant becomes a column vector [P·site, 1] for the run
(:func:`torch.func.functional_call`), so that every column runs with its own constants.
The runs keep no gradients (``torch.inference_mode``, which spares every torch operation
of the daily loop autograd's bookkeeping) and only the streamflow (``streamflow_only``),
and they may be in a lower precision than the model's
(``dtype``: float32 for a float64 model; every floating-point parameter and buffer of the
model is then cast for the run, the squared errors still summed in the model's dtype).
Per-site losses are the workflow objective's training loss taken
site by site: the fit (:meth:`~discover.fit.objective.Objective.site_losses` on
``"train"``) plus the range penalty of the symbolic slots
(:class:`~discover.processes.symbolic.RangeExcess`) tallied per column, so that the search
keeps an equation in its declared range as gradient training does, rather than choosing
constants whose excess the model's clip hides. With one site, their mean over the
observed sites is the objective's training loss (:meth:`~discover.fit.objective.
Objective.loss`, with or without gradients); with several, it differs only in the penalty,
which the objective pools over the sites (relative to the RMS of all their outputs) and
the search takes site by site (relative to each site's own), as it searches each site's
parameters on their own.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.func import functional_call

from discover.errors import UserError
from discover.models.hbv_processes import FORCINGS
from discover.models.parameters import SiteParameters
from discover.processes.compile import ExpressionModule
from discover.processes.symbolic import RangeExcess
from discover.workflows.hbv import HBVWorkflow

SITE_AXIS = -2
"""The axis of the sites in HBV's slot outputs ([site, nmul] a day, [time, site, nmul] for
the whole series)."""

RUN_BYTES = 2 * 1024**3
"""Memory one batched run may take: a population whose columns (members × sites) would need
more is run in chunks of members, one after another (same losses; many sites × a wide
population over years of days would otherwise not fit, e.g. 100 sites × 896 members ×
15 years ≈ 50 GB)."""

VALUES_PER_CELL = 13
"""Values a run keeps per column, day and parallel parameter set (measured on the
calibration twin, float64, one set: 80–97 bytes per column and day)."""

SHARE_FLOOR = 1e-9
"""Shares are kept in ``[SHARE_FLOOR, 1 − SHARE_FLOOR]`` so that their logits are finite."""


class CalibrationError(UserError):
    """A model that a population search cannot calibrate (e.g. parameters from attributes)."""


class PopulationLoss:
    """Per-site training losses of ``P`` parameter sets of ``workflow`` at once.

    Args:
        workflow: an HBV workflow with per-site parameters (``model.parameters: site``).
        spread: half-width of each symbolic constant's search range, in units of its
            starting magnitude.
        dtype: precision of the runs (``None``: the workflow's); the losses are summed in
            the workflow's.

    Raises:
        CalibrationError: the workflow's parameters are not calibrated per site.
    """

    def __init__(
        self, workflow: HBVWorkflow, spread: float = 2.0, dtype: torch.dtype | None = None
    ):
        if not isinstance(workflow, HBVWorkflow) or not isinstance(
            workflow.learner, SiteParameters
        ):
            raise CalibrationError(
                "train.calibration: a population search needs an HBV model with "
                "model.parameters: site (one free parameter set per site)"
            )
        self.workflow = workflow
        self.learner: SiteParameters = workflow.learner
        self.sites, self.site_dim = self.learner.raw.shape
        in_parameter_slots = tuple(f"slots.{name}." for name in workflow.parameter_slots)
        self.constant_modules = {
            path: module
            for path, module in workflow.model.named_modules()
            if isinstance(module, ExpressionModule)
            and module.relative.requires_grad
            and not path.startswith(in_parameter_slots)
        }
        self.constant_start = [m.relative.detach().clone() for m in self.constant_modules.values()]
        self.constant_dim = sum(r.numel() for r in self.constant_start)
        self.spread = spread
        self.dtype = workflow.dtype if dtype is None else dtype
        self.objective = workflow.objective
        train = self.objective.splits["train"]
        self.start, self.end = train.start, train.stop
        self.observed_sites = self.objective.observed_sites("train")
        if not bool(self.observed_sites.any()):
            raise CalibrationError("data: no site has a finite streamflow in the training period")

    def unsearched(self, names: list[str] | None) -> list[str]:
        """The workflow's trainable values that a search over the parameters ``names``
        (all if ``None``) leaves to gradient training: networks, constants of parameter
        slots, parameters not in ``names``, and symbolic constants shared by several sites
        (searched per site, then one site's taken: :func:`~discover.fit.calibration.
        calibrate`). Empty when the search sets every one of them."""
        every = names is None or set(self.learner.bounded.names) <= set(names)
        searched = {id(self.learner.raw)} if every else set()
        if self.sites == 1:
            searched |= {id(m.relative) for m in self.constant_modules.values()}
        left = [
            name
            for name, value in self.workflow.named_parameters()
            if value.requires_grad and id(value) not in searched
        ]
        if not every:
            left.insert(0, f"the parameters other than {sorted(names or [])}")
        return left

    @property
    def exact(self) -> bool:
        """Whether :meth:`total` of :meth:`losses` is the workflow's training loss at the
        same point up to rounding: the runs are in the workflow's dtype, there is one site
        (several sites' range penalties are pooled by the objective, taken site by site
        here) and the objective scores training by its own run (not a custom loss)."""
        return (
            self.dtype == self.workflow.dtype
            and self.sites == 1
            and self.objective.training_loss is None
        )

    @property
    def dim(self) -> int:
        """Length of one site's search point: parameter shares, then constant shares."""
        return self.site_dim + self.constant_dim

    def current(self) -> Tensor:
        """The workflow's current parameters as search points [site, dim] (constants at
        their start, the middle of their range)."""
        shares = torch.sigmoid(self.learner.raw.detach()).double()
        middle = shares.new_full((self.sites, self.constant_dim), 0.5)
        return torch.cat([shares, middle], -1)

    def losses(self, points: Tensor) -> Tensor:
        """Training loss of every member at every site, [member, site], from search points
        [member, site, dim] in the unit box: fit plus range penalty; ``inf`` where it is
        not finite, the penalty alone at sites without observations. Populations larger
        than :meth:`members_per_run` are run in chunks of members."""
        if points.dim() != 3 or points.shape[1:] != (self.sites, self.dim):
            raise ValueError(
                f"points must be [member, {self.sites}, {self.dim}], got {tuple(points.shape)}"
            )
        chunk = self.members_per_run()
        if points.shape[0] > chunk:
            return torch.cat([self.losses(part) for part in points.split(chunk)])
        workflow, members, dtype = self.workflow, points.shape[0], self.dtype
        points = points.to(self.objective.seen.device, dtype)
        columns = points.reshape(members * self.sites, self.dim)
        raw = torch.logit(columns[:, : self.site_dim].clamp(SHARE_FLOOR, 1 - SHARE_FLOOR))
        parameters = self.learner.bounded.scale(raw)
        if workflow.parameter_slots:
            attributes = dict(
                zip(workflow.attribute_names, workflow.attributes.unbind(-1), strict=True)
            )
            for name in workflow.parameter_slots:
                value = workflow.slot_parameter(name, attributes)
                parameters[name] = value.repeat(members, 1).to(dtype)
        forcings = {
            name: getattr(workflow, f"forcing_{name}")[: self.end].to(dtype).repeat(1, members)
            for name in FORCINGS
        }
        overrides = self._model_values() | self._constant_columns(columns[:, self.site_dim :])
        tally = RangeExcess(columns.shape[0], SITE_AXIS)
        keywords = {"warmup": workflow.warmup, "streamflow_only": True}
        with torch.inference_mode(), tally:
            out = functional_call(workflow.model, overrides, (forcings, parameters), keywords)
            simulated = out.streamflow[self.start - workflow.warmup :].to(workflow.dtype)
            loss = self.objective.site_losses(simulated[..., None], "train") + tally.penalty()
            loss = torch.where(torch.isfinite(loss), loss, torch.inf)
        return loss.reshape(members, self.sites).double().clone()

    def members_per_run(self) -> int:
        """Most members simulated in one batched run within :data:`RUN_BYTES` (at least 1)."""
        itemsize = torch.empty((), dtype=self.dtype).element_size()
        per_member = VALUES_PER_CELL * itemsize * self.sites * self.end * self.learner.bounded.nmul
        return max(1, RUN_BYTES // per_member)

    def total(self, losses: Tensor) -> Tensor:
        """The workflow's training loss of each member [member] from per-site losses
        [member, site]: their mean over the sites with observations."""
        return losses[:, self.observed_sites.to(losses.device)].mean(-1)

    def apply(self, points: Tensor) -> None:
        """Set the workflow's parameters and constants to search points [site, dim]; the
        constants, shared by every site, are taken from the first site's point."""
        if points.shape != (self.sites, self.dim):
            raise ValueError(
                f"points must be [{self.sites}, {self.dim}], got {tuple(points.shape)}"
            )
        points = points.to(self.learner.raw.device, self.learner.raw.dtype)
        shares = points[:, : self.site_dim].clamp(SHARE_FLOOR, 1 - SHARE_FLOOR)
        with torch.no_grad():
            self.learner.raw.copy_(torch.logit(shares))
            values = self._relative(points[:1, self.site_dim :])
            for module, value in zip(self.constant_modules.values(), values, strict=True):
                module.relative.copy_(value.reshape(module.relative.shape))

    def _relative(self, shares: Tensor) -> list[Tensor]:
        """Constants relative to their starting magnitude, one [columns, n] tensor per
        expression module, from constant shares [columns, constant_dim]."""
        out, offset = [], 0
        for start in self.constant_start:
            n = start.numel()
            share = shares[:, offset : offset + n]
            out.append(start.to(share) + self.spread * (2 * share - 1))
            offset += n
        return out

    def _model_values(self) -> dict[str, Tensor]:
        """Overrides for :func:`functional_call`: the model's floating-point parameters
        and buffers in the precision of the runs (none when it is the model's)."""
        model = self.workflow.model
        return {
            name: value.to(self.dtype)
            for name, value in [*model.named_parameters(), *model.named_buffers()]
            if value.is_floating_point() and value.dtype != self.dtype
        }

    def _constant_columns(self, shares: Tensor) -> dict[str, Tensor]:
        """Overrides for :func:`functional_call`: each module's constants [n, column, 1]."""
        overrides: dict[str, Tensor] = {}
        values = self._relative(shares)
        for (path, module), value in zip(self.constant_modules.items(), values, strict=True):
            overrides[f"{path}.relative"] = value.T.unsqueeze(-1).to(self.dtype)
            overrides[f"{path}.scale"] = module.scale.reshape(-1, 1, 1).to(self.dtype)
        return overrides
