"""Global calibration of HBV parameters: a population search, then a gradient polish.

Gradient descent from mid-range parameters often stops in a local optimum of HBV: while
the upper zone never fills above the threshold ``uzl``, ``uzl`` and ``k0`` have no
gradient at all. :func:`calibrate` therefore first searches the parameters' whole ranges
with CMA-ES (the ``cmaes`` package), one search per site run in lockstep: every
generation the members of all sites are simulated together in one batched forward pass
without gradients (:class:`~discover.fit.population.PopulationLoss`), and each site's
search is told its own site's losses, so the sites' parameters are found independently.
The free constants of symbolic slots are searched with them. A parameter whose bounds span
orders of magnitude (a recession coefficient in [0.001, 0.2]/day) is searched on a log
scale (:class:`SearchScale`), so that a search starting in the middle of its range reaches
0.005/day as easily as 0.1/day. A generation costs nearly the same for a few or a few
hundred members (the time loop's per-day overhead dominates on a CPU), so the population is
wide by default (32 members per searched value), which cuts the generations needed.
HBV has several optima (on Fulda two, with the quick-flow threshold ``uzl`` near 31 mm or
near 10 mm), and one search finds the better one only in some seeds; ``searches`` (2)
independent searches per site (each with its own seed stream) therefore run side by side,
their members stacked into the same batched forward pass, each told only its own members'
losses, and the best member of all is kept. Each search stops on its own, and its members
then leave the batch: when its own best member's loss has fallen by no more than
``tolerance`` (0.003 by default) at any site over the last ``patience`` generations, when
it trails the best of the other searches at every site by more than it gained there over
the last ``patience`` generations, or when CMA-ES's own criteria (``should_stop``) hold at
every site. A trailing search would need more than ``patience`` further generations at
its recent pace merely to draw level with the leader's present loss, while the leader
goes on improving and a converging search's gains shrink from one window to the next (the
premise of the tolerance too): its members would only cost, and the best member of all
is kept whichever search drew it. The rules judge the
search's own members, not the best point known: a search started at a good point draws
worse members at first, and would otherwise be stopped while it still converges (on Fulda,
with ``pet*soil_wetness**b`` put in the calibrated physics model's ET slot, a rule judged
on the best point known stopped after 10 generations with the start; this one lowered the
loss by 0.0033 in 39). The training loss is the squared error over the observations'
variance (≈ 1 − NSE for streamflow), so the tolerance is an absolute one in NSE units: the
same precision for a catchment at NSE 0.6 as at 0.95. The searches may simulate in
float32 (``precision``; CMA-ES uses only the members' order, which rounding at 1e-6 of the
loss changes only among near-ties); the kept point's training loss is then taken again
in the model's dtype (not when the search's losses are that loss already:
:attr:`~discover.fit.population.PopulationLoss.exact`). Optionally (``polish_steps``) a few
L-BFGS iterations (:func:`~discover.fit.trainer.lbfgs_step`) then polish the best member
on the training loss, with every trainable weight of the model; the polish is kept only if
it lowers that loss. When no member of the searches beat their start (a start taken from a
calibrated model), one more search refines it at a fifth of the step size
(:data:`LOCAL_STEP`).

With several sites, a model's symbolic constants are shared by all of them while the
search treats them per site; the model then takes the constants of the site optimum (of
up to ``population`` sites, evenly spread over the sites) with the lowest training loss
over all sites, before the polish refits everything together.

Example::

    workflow = build_workflow(config, base)          # model.parameters: site
    result = calibrate(workflow, CalibrationConfig(), seed=0)
    result.loss                                       # training loss, parameters set
"""

from __future__ import annotations

import copy
import logging
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from cmaes import CMA

from discover.config.stage_settings import CalibrationConfig
from discover.fit.population import CalibrationError, PopulationLoss
from discover.fit.trainer import lbfgs_step
from discover.workflows.hbv import HBVWorkflow

log = logging.getLogger("discover")

LOCAL_STEP = 0.2
"""Step size of the local search that follows when no member of the searches beat their
start, relative to ``sigma`` (0.25 → 0.05 of each searched range). A start taken from a
calibrated model (a hypothesis from the ``physics`` baseline, the ``symbolic`` variant from
the neural one) can lie near an optimum that members drawn at the global step size never
come close to, and the searches then stop with nothing gained; the start was not searched
to convergence, only not improved on from afar. On Fulda's ``symbolic`` variant (its ET
equation in the neural variant's calibrated model) two searches at sigma 0.25 ran 45
generations without beating the start; one at 0.05 from it lowered the training loss from
0.1625 to 0.1581 in 17 CPU s (train / test NSE 0.842 / 0.867)."""

INFEASIBLE = 1e30
"""Loss told to the search for a member whose simulation is not finite."""


MEMBERS_PER_VALUE = 32
"""Default members per generation, site and search for each searched value (448 for the 14 HBV
parameters). A generation's cost on a CPU is set by the per-day overhead of the time loop
and grows slowly with the batch (on Fulda, 1 site: 0.71 s for 224 members, 0.91 s for 448,
0.54 s for one), so a wide population, which needs fewer generations, is nearly free; with
many sites the batch is ``sites × searches × population`` columns (run in chunks beyond
:data:`~discover.fit.population.RUN_BYTES`, so its time grows with them), so set
``population`` lower. On Fulda's 14 parameters (4 seeds each) 448 members came within 0.005
of differential evolution's loss in 20–25 generations (224: 27–38), within 0.002 in 28–36
(224: 38–57), and stopped by the default rule the four seeds ended within 0.002 of one
another (224: within 0.008); 896 members cost 1.4 times as much per generation as 448 and
saved fewer generations than that (two seeds). Two searches of 448 against one of 448 and
against two of 224 (the same batch as one of 448) on Fulda, seeds 0–4
(``benchmarks/calibration.py --set``; CPU seconds per seed, one thread): one of 448 found
the better optimum (``uzl`` 9–10 mm, calibration / test NSE 0.841 / 0.867–0.870) in 3 seeds,
the other two ended at ``uzl`` 31 mm (0.831–0.832 / 0.836–0.839), 44–59 generations, CPU
21–29 s; two of 224: 4 seeds (loss 0.0004–0.001 above the 448s' at that optimum), 44–71
generations, CPU 22–34 s; two of 448: all 5 (0.841 / 0.866–0.870), 51–61 generations, CPU
26–39 s (6 of the 10 searches found it); one of 896 (the same batch as two of 448): 3 seeds,
34–47 generations, CPU 20–28 s. At the same batch, two searches found the better optimum
more often than one twice as wide, but a population of 224 converged less closely (and with
``sigma`` 0.4 found it in 2 of 5), so searches are added with the default population rather
than split it. Measured again on Fulda (float64, one thread, load 5–7, CPU s per
generation): 0.30–0.32 for one member, 0.41 for 448, 0.59–0.61 for 896 (two searches). At
two searches' batch the per-member part is about half of a generation, so halving the
population cuts a generation by ~30 %, while it needed 1.35–1.5 times the generations above:
about the same CPU, the better optimum found less often."""

GEOMETRIC_SPAN = 10.0
"""A parameter whose bounds satisfy ``0 < low`` and ``high >= GEOMETRIC_SPAN·low`` is
searched on a logarithmic scale (``log_scale``)."""


@dataclass(frozen=True)
class SearchScale:
    """The search's coordinates ``z`` in the unit box and the shares ``u`` of each range
    that :class:`~discover.fit.population.PopulationLoss` takes: ``u = z``, or for a
    geometric column (a rate or capacity whose bounds span orders of magnitude, e.g. a
    recession coefficient in [0.001, 0.2]/day) the value ``low·(high/low)^z``, i.e.
    ``u = (r^z − 1)/(r − 1)`` with ``r = high/low``, so that equal steps are equal factors.

    Attributes:
        ratio: ``high/low`` per column of a search point [dim]; 1 where linear.
    """

    ratio: np.ndarray

    @classmethod
    def of(cls, objective: PopulationLoss, log_scale: bool) -> SearchScale:
        """The scale of ``objective``'s points: geometric for the parameters whose bounds
        span ``GEOMETRIC_SPAN`` above zero when ``log_scale``, linear otherwise (and for
        every symbolic constant)."""
        ratio = np.ones(objective.dim)
        if log_scale:
            bounded = objective.learner.bounded
            for i, name in enumerate(bounded.names):
                low, high = bounded.bounds[name].low, bounded.bounds[name].high
                if low > 0 and high >= GEOMETRIC_SPAN * low:
                    ratio[i * bounded.nmul : (i + 1) * bounded.nmul] = high / low
        return cls(ratio)

    def to_shares(self, z: np.ndarray, columns: np.ndarray) -> np.ndarray:
        """Shares [..., len(columns)] from search coordinates of those ``columns``."""
        ratio = self.ratio[columns]
        geometric = ratio > 1
        shares = z.copy()
        r = ratio[geometric]
        shares[..., geometric] = np.expm1(z[..., geometric] * np.log(r)) / (r - 1)
        return shares.clip(0.0, 1.0)  # rounding of r^1 − 1

    def from_shares(self, shares: np.ndarray) -> np.ndarray:
        """Search coordinates of whole points [..., dim] from their shares."""
        geometric = self.ratio > 1
        z = shares.copy()
        r = self.ratio[geometric]
        z[..., geometric] = np.log1p(shares[..., geometric] * (r - 1)) / np.log(r)
        return z


@dataclass
class CalibrationResult:
    """What :func:`calibrate` did; the workflow's model holds the calibrated parameters.

    Attributes:
        loss: training loss at the end (after the polish, if it was kept).
        search_loss: training loss of the best member of the search.
        evaluations: parameter sets simulated, one per member and site.
        generations: generations run.
        seconds: wall time of search and polish.
        history: best training loss after each generation (mean over sites of each
            site's best).
        search_losses: each search's best training loss, over its own members.
        search_generations: generations each search ran.
    """

    loss: float
    search_loss: float
    evaluations: int
    generations: int
    seconds: float
    history: list[float] = field(default_factory=list)
    search_losses: list[float] = field(default_factory=list)
    search_generations: list[int] = field(default_factory=list)


def calibrate(
    workflow: HBVWorkflow, settings: CalibrationConfig, seed: int = 0
) -> CalibrationResult:
    """Calibrate ``workflow``'s per-site HBV parameters (and symbolic constants) globally,
    then polish them by gradient; the result is set in the workflow's model.

    Args:
        workflow: an HBV workflow with ``model.parameters: site`` (as
            :func:`discover.stages.models.build_workflow` builds it).
        settings: population, budget, stopping and polish (``train.calibration``;
            ``enabled: false`` leaves the model as it is).
        seed: seed of the searches (site ``s`` has its own stream).

    Raises:
        CalibrationError: the workflow does not calibrate parameters per site.
    """
    started = time.perf_counter()
    precision = None if settings.precision == "model" else getattr(torch, settings.precision)
    objective = PopulationLoss(workflow, settings.constant_spread, precision)
    if settings.enabled is False:
        loss = _training_loss(workflow)
        return CalibrationResult(loss, loss, 0, 0, time.perf_counter() - started)
    start = objective.current().numpy()
    best, history, evaluations, searches = _search(objective, settings, seed)
    if np.array_equal(best, start):  # no member of any search beat the start: refine it
        local = settings.model_copy(update={"sigma": settings.sigma * LOCAL_STEP, "searches": 1})
        log.info("calibration: no search beat the start; a local search (sigma %g)", local.sigma)
        best, more, extra, (losses, ran) = _search(objective, local, seed + 1)
        history, evaluations = history + more, evaluations + extra
        searches = (searches[0] + losses, searches[1] + ran)
    if objective.constant_dim and objective.sites > 1:
        most = settings.population or MEMBERS_PER_VALUE * objective.dim
        best = _shared_constants(objective, best, most)
    objective.apply(torch.from_numpy(best))
    search_loss = history[-1] if objective.exact and history else _training_loss(workflow)
    loss = _polish(workflow, settings.polish_steps, search_loss)
    seconds = time.perf_counter() - started
    log.info(
        "calibration: loss %.5g after %d generations (%.5g before the polish), %.0f s",
        loss,
        len(history),
        search_loss,
        seconds,
    )
    return CalibrationResult(
        loss, search_loss, evaluations, len(history), seconds, history, *searches
    )


def _search(
    objective: PopulationLoss, settings: CalibrationConfig, seed: int
) -> tuple[np.ndarray, list[float], int, tuple[list[float], list[int]]]:
    """``settings.searches`` independent CMA-ES searches per site, in lockstep from the
    workflow's current parameters: the best point per site [site, dim] over the start and
    every search, that point's training loss after each generation, the number of
    parameter sets simulated, and each search's best training loss and generations.
    Every generation the members of the searches still running form one batch; each
    search is told its own members' losses and stops on its own."""
    start = objective.current().numpy()
    free = _free_columns(objective, settings.parameters)
    scale = SearchScale.of(objective, settings.log_scale)
    population = settings.population or MEMBERS_PER_VALUE * len(free)
    searches = _start_searches(scale.from_shares(start)[:, free], settings, seed, population)
    best = start.copy()
    best_loss = objective.losses(torch.from_numpy(start)[None])[0].numpy()
    own = np.full((len(searches), objective.sites), np.inf)  # each search's best member
    owns, history, running = [own.copy()], [], list(range(len(searches)))
    ran = [settings.generations] * len(searches)
    evaluations = objective.sites
    for _ in range(settings.generations):
        told = np.stack(
            [[[s.ask() for s in searches[k]] for _member in range(population)] for k in running]
        )
        told = told.reshape(len(running) * population, objective.sites, len(free))
        asked = np.repeat(start[None], len(told), 0)  # [member, site, dim] shares
        asked[:, :, free] = scale.to_shares(told, free)
        losses = objective.losses(torch.from_numpy(asked)).numpy()  # [member, site]
        losses = np.where(np.isfinite(losses), losses, INFEASIBLE)
        evaluations += losses.size
        for i, k in enumerate(running):
            mine = slice(i * population, (i + 1) * population)
            for site, search in enumerate(searches[k]):
                search.tell(list(zip(told[mine, site], losses[mine, site], strict=True)))
            own[k] = np.minimum(own[k], losses[mine].min(0))
        winner = losses.argmin(0)
        better = losses[winner, np.arange(objective.sites)] < best_loss
        best[better] = asked[winner[better], np.flatnonzero(better)]
        best_loss = np.where(better, losses.min(0), best_loss)
        history.append(float(objective.total(torch.from_numpy(best_loss)[None])[0]))
        owns.append(own.copy())
        for k in [k for k in running if _done(searches[k], owns, k, settings)]:
            running.remove(k)
            ran[k] = len(history)
        if not running:
            break
    totals = objective.total(torch.from_numpy(own)).tolist()
    return best, history, evaluations, (totals, ran)


def _start_searches(
    means: np.ndarray, settings: CalibrationConfig, seed: int, population: int
) -> list[list[CMA]]:
    """``settings.searches`` lists of one CMA-ES per site, from the search coordinates
    [site, free] of the start. Site ``s`` has its own seed stream; search ``k`` of it
    takes the stream's word ``k`` (so search 0 is the same for any number of searches)."""
    streams = np.random.SeedSequence(seed).spawn(len(means))
    seeds = np.stack([stream.generate_state(settings.searches) for stream in streams])
    bounds = np.tile([0.0, 1.0], (means.shape[1], 1))
    return [
        [
            CMA(
                mean=np.clip(mean, 0.01, 0.99),
                sigma=settings.sigma,
                bounds=bounds,
                seed=int(seeds[site, k]),
                population_size=population,
            )
            for site, mean in enumerate(means)
        ]
        for k in range(settings.searches)
    ]


def _done(search: list[CMA], owns: list[np.ndarray], k: int, settings: CalibrationConfig) -> bool:
    """Whether search ``k`` (one CMA-ES per site) stops: its own best member's loss per
    site (``owns``: [search, site] after each generation, ``inf`` before the first) fell by
    no more than ``tolerance`` at any site over the last ``patience`` generations, or by
    less at every site than it trails the best of the other searches there, or CMA-ES's own
    criteria hold at every site."""
    if len(owns) > settings.patience:
        before, now = owns[-1 - settings.patience], owns[-1]
        if _stalled(before[k], now[k], settings.tolerance) or _behind(before, now, k):
            return True
    return all(cma.should_stop() for cma in search)


def _behind(before: np.ndarray, now: np.ndarray, k: int) -> bool:
    """Whether search ``k``'s best loss trails the best of the other searches' at every
    site by more than it fell from ``before`` to ``now`` (each [search, site]); never
    with one search, nor while ``before`` is ``inf``."""
    if len(now) < 2:
        return False
    leader = np.delete(now, k, 0).min(0)
    return bool((now[k] - leader > before[k] - now[k]).all())


def _stalled(before: np.ndarray, now: np.ndarray, tolerance: float) -> bool:
    """Whether no site's best loss [site] fell from ``before`` to ``now`` by more than
    ``tolerance`` (loss units: ≈ NSE for a loss scaled by the observations' variance);
    never while ``before`` is ``inf`` (no member yet)."""
    return bool(((before - now) <= tolerance).all())


def _free_columns(objective: PopulationLoss, names: list[str] | None) -> np.ndarray:
    """Columns of a search point that the search varies: those of the parameters
    ``names`` (all if ``None``) and every symbolic constant."""
    known = objective.learner.bounded.names
    if names is None:
        return np.arange(objective.dim)
    unknown = [name for name in names if name not in known]
    if unknown:
        raise CalibrationError(
            f"train.calibration.parameters: {unknown} are not parameters of this model; "
            f"it has {list(known)}"
        )
    nmul = objective.learner.bounded.nmul
    columns = [i * nmul + j for i, name in enumerate(known) if name in names for j in range(nmul)]
    constants = range(objective.site_dim, objective.dim)
    if len(columns) + len(constants) < 2:
        raise CalibrationError("train.calibration.parameters: the search needs at least two values")
    return np.array([*columns, *constants])


def _shared_constants(objective: PopulationLoss, best: np.ndarray, most: int) -> np.ndarray:
    """``best`` [site, dim] with every site's constants set to those of the site optimum
    (of up to ``most`` sites, evenly spread) whose constants give the lowest training
    loss over all sites, each site keeping its own parameters."""
    sites = np.unique(np.linspace(0, objective.sites - 1, min(most, objective.sites)).round())
    candidates = np.repeat(best[None], len(sites), 0)  # [candidate, site, dim]
    candidates[:, :, objective.site_dim :] = best[sites.astype(int), None, objective.site_dim :]
    totals = objective.total(objective.losses(torch.from_numpy(candidates)))
    return candidates[int(totals.argmin())]


def _training_loss(workflow: HBVWorkflow) -> float:
    """The workflow's training loss, without gradients (in the model's dtype, which the
    search's may not be)."""
    with torch.no_grad():
        return float(workflow.loss("train"))


def _polish(workflow: HBVWorkflow, steps: int, before: float) -> float:
    """Up to ``steps`` L-BFGS iterations on the training loss; kept only if they lower it.
    Returns the training loss at the end."""
    if steps == 0:
        return before
    state = copy.deepcopy(workflow.state_dict())
    trainable = [p for p in workflow.parameters() if p.requires_grad]
    optimiser = torch.optim.LBFGS(trainable, lr=1.0, max_iter=steps, line_search_fn="strong_wolfe")
    lbfgs_step(optimiser, lambda: workflow.loss("train"))
    with torch.no_grad():
        after = float(workflow.loss("train"))
    if after < before:
        return after
    workflow.load_state_dict(state)
    return before
