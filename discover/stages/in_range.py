"""Which candidates of a front a selection rule may choose: those that stay in the slot's
declared output range wherever the physical checks look.

Each candidate of the front and of its near front, made the ``Symbolic`` process that
reinsertion would make of it, is put through the range test of the checks
(:func:`~discover.validate.checks.range_checks`: unclipped, on the slot's probed samples,
an extrapolated box and the faces of both boxes, at the checks' seed). A rule then sees
the front without the candidates that fail (:func:`within`); afterwards they are put back
on the front it returns, marked in its metadata as ``leaves_range`` (:func:`restored`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from discover.distill.pareto import Candidate, ParetoFront, select_candidate
from discover.distill.probe import ProbeSamples
from discover.stages.models import symbolic_process
from discover.validate.checks import range_checks, sampled_domain
from discover.workflows.base import Workflow


def leaving_range(
    workflow: Workflow,
    slot: str,
    candidates: Sequence[Candidate],
    samples: ProbeSamples,
    seed: int,
) -> dict[int, str]:
    """``{index: why}`` of the ``candidates`` that leave ``slot``'s declared range where
    the physical checks look (``why``: the first failing range check); empty when the
    slot's range is unbounded."""
    if not workflow.model.slots[slot].output_range.bounded:
        return {}
    leaving, known = {}, workflow.model.input_bounds
    for i, candidate in enumerate(candidates):
        process = symbolic_process(workflow, slot, candidate)
        domain, bounds = sampled_domain(process, samples.X, samples.names, known)
        results = range_checks(process, domain, bounds=bounds, seed=seed)
        failed = [r for r in results if not r.passed]
        if failed:
            leaving[i] = f"{failed[0].region}: {failed[0].sentence}"
    return leaving


def within(front: ParetoFront, leaving: Mapping[int, str]) -> ParetoFront | None:
    """``front`` without the candidates of :func:`~discover.distill.pareto.in_play`
    indices ``leaving`` (near-front ones included); its engine's choice, or the front's
    own rule among those kept when that choice leaves. ``None`` when none of the front's
    own candidates is kept."""
    n = len(front)
    kept = [c for i, c in enumerate(front) if i not in leaving]
    if not kept:
        return None
    metadata = dict(front.metadata)
    near = [e for j, e in enumerate(metadata.pop("near_front", [])) if n + j not in leaving]
    if near:
        metadata["near_front"] = near
    selected = (
        kept.index(front.selected)
        if front.selected_index not in leaving
        else select_candidate(kept)
    )
    return ParetoFront(kept, front.inputs, front.engine, selected, metadata)


def restored(
    front: ParetoFront,
    chosen: ParetoFront,
    scored: Sequence[Candidate],
    leaving: Mapping[int, str],
    note: str,
) -> tuple[ParetoFront, dict[int, int]]:
    """``chosen`` (a rule's result on :func:`within`'s front) with the candidates of
    ``front`` that leave the range put back by rising complexity, and where each of
    ``chosen``'s candidates went ``{old index: new index}``.

    The metadata gain ``leaves_range`` (per candidate left out: expression, complexity,
    loss, ``near_front``, ``why``), ``note`` after the rule in ``selection_rule``
    (:func:`noted`), and the failing near-front entries back in ``near_front``.
    Per-candidate metadata move with their candidates: a list of numbers as long as
    ``chosen`` (``bic``; NaN for the candidates put back) and rows with a front ``index``
    (``shortlist``).
    """
    n = len(front)
    back = [i for i in sorted(leaving) if i < n]
    tagged = [(c.complexity, 0, k, c) for k, c in enumerate(chosen)]
    tagged += [(front[i].complexity, 1, i, front[i]) for i in back]
    tagged.sort(key=lambda t: t[:3])
    moved = {t[2]: p for p, t in enumerate(tagged) if t[1] == 0}
    metadata = {k: _moved(v, moved, len(chosen), len(tagged)) for k, v in chosen.metadata.items()}
    metadata["leaves_range"] = leaving_rows(scored, leaving, n)
    near = [e for j, e in enumerate(front.metadata.get("near_front", [])) if n + j in leaving]
    if near:
        metadata["near_front"] = [*metadata.get("near_front", []), *near]
    candidates = [t[3] for t in tagged]
    restored_front = ParetoFront(
        candidates, front.inputs, front.engine, moved[chosen.selected_index], metadata
    )
    return noted(restored_front, note), moved


def noted(front: ParetoFront, note: str, **metadata: Any) -> ParetoFront:
    """``front`` with ``note`` after the rule in its ``selection_rule`` and ``metadata``
    added to its metadata."""
    rule = front.metadata.get("selection_rule", "the engine's choice")
    merged = {**front.metadata, **metadata, "selection_rule": f"{rule}; {note}"}
    return ParetoFront(front.candidates, front.inputs, front.engine, front.selected_index, merged)


def leaving_rows(
    scored: Sequence[Candidate], leaving: Mapping[int, str], n: int
) -> list[dict[str, Any]]:
    """The ``leaves_range`` rows: per candidate of ``scored`` (``n`` of them on the front)
    that leaves the range, its expression, complexity, loss, ``near_front`` and ``why``."""
    return [
        {**scored[i].to_dict(), "near_front": i >= n, "why": why}
        for i, why in sorted(leaving.items())
    ]


def _moved(value: Any, moved: Mapping[int, int], before: int, after: int) -> Any:
    """A metadata value with its per-candidate entries moved (see :func:`restored`)."""
    if not isinstance(value, list) or not value:
        return value
    if len(value) == before and all(isinstance(v, int | float) for v in value):
        out = [float("nan")] * after
        for k, v in enumerate(value):
            out[moved[k]] = v
        return out
    if all(isinstance(row, dict) and isinstance(row.get("index"), int) for row in value):
        return [{**row, "index": moved[row["index"]]} for row in value]
    return value
