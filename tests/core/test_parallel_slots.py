"""Slots distilled side by side in forked workers (:mod:`discover.stages.parallel_slots`,
``distill.workers``): the same equations as one after another, a failing or dying worker
fails its slot only, Ctrl-C stops the workers, and no process is forked where it must not
be. The Lotka–Volterra case study's slots F and G; where the distillation itself is not
under test, ``Study.distill`` is replaced by a planted one that takes no time."""

import logging
import os
import time

import numpy as np
import pytest
import sympy

import discover.stages.parallel_slots as parallel_slots
from discover.config import ConfigError, load_config
from discover.distill import Candidate, ParetoFront
from discover.distill.probe import ProbeSamples
from discover.stages.pipeline import distill_slots
from discover.study import Study

XY = sympy.symbols("x y", real=True)


@pytest.fixture(scope="module")
def case(make_case, tmp_path_factory):
    return make_case(tmp_path_factory.mktemp("parallel_slots"))


@pytest.fixture
def forks(monkeypatch) -> list[str]:
    """Counts the fork contexts the workers are started from."""
    seen, real = [], parallel_slots.multiprocessing.get_context

    def get_context(method=None):
        seen.append(method)
        return real(method)

    monkeypatch.setattr(parallel_slots.multiprocessing, "get_context", get_context)
    return seen


def _study(case, workers: int | None = 2, **distill) -> Study:
    config, write = case
    train = {**config["train"], "iterations": 4, "lbfgs_iterations": 0}  # a rough fit will do
    config = {**config, "train": train, "distill": {**config["distill"], "workers": workers}}
    config["distill"].update(distill)
    return Study.from_config(write(config, f"config_{os.getpid()}_{workers}.yaml"))


def _planted(fail: dict[str, object]):
    """A ``Study.distill`` that logs a warning and records the law ``0.9*x*y`` for its slot
    at once, or does ``fail[slot]()`` instead."""

    def distill(self: Study, slot: str, progress: bool = False) -> ParetoFront:
        logging.getLogger("discover.planted").warning("%s planted in %d", slot, os.getpid())
        if slot in fail:
            fail[slot]()
        x = np.random.default_rng(0).uniform(0.2, 5.0, size=(20, 2))
        self.samples[slot] = ProbeSamples(x, 0.9 * x[:, 0] * x[:, 1], ("x", "y"))
        candidate = Candidate(0.9 * XY[0] * XY[1], 5, 0.0, "planted")
        self.fronts[slot] = ParetoFront([candidate], ("x", "y"), "planted", 0)
        return self.fronts[slot]

    return distill


def test_side_by_side_gives_what_one_after_another_gives(case, forks):
    options = {"max_numerator_terms": 1, "max_denominator_terms": 1}
    study = _study(case, workers=1, samples=60, max_complexity=6, options=options)
    study.fit(progress=False)
    found = {}
    for workers in (1, 2):
        study.config.distill.workers = workers
        study.samples, study.rankings, study.fronts = {}, {}, {}
        distill_slots(study, ["F", "G"], one_at_a_time=False, progress=False)
        assert not study.failures
        found[workers] = study.fronts, study.samples, study.rankings
    assert forks == ["fork"]  # workers=1 forked nothing
    (fronts, samples, rankings), (fronts2, samples2, rankings2) = found[1], found[2]
    timing = lambda m: {k: v for k, v in m.items() if not k.endswith("_seconds")}  # noqa: E731
    for slot in ("F", "G"):
        assert fronts2[slot].selected.expression == fronts[slot].selected.expression
        assert fronts2[slot].candidates == fronts[slot].candidates
        assert fronts2[slot].selected_index == fronts[slot].selected_index
        assert repr(timing(fronts2[slot].metadata)) == repr(timing(fronts[slot].metadata))
        np.testing.assert_array_equal(samples2[slot].X, samples[slot].X)
        np.testing.assert_array_equal(samples2[slot].y, samples[slot].y)
        assert samples2[slot].names == samples[slot].names
        assert rankings2[slot][1] == rankings[slot][1]
        assert study.timings[f"distill {slot}"] > 0 and study.timings[f"select {slot}"] > 0


def _raise():
    raise ValueError("no equation fits")


def test_a_slot_that_raises_in_its_worker_fails_alone(case, forks, monkeypatch, caplog):
    monkeypatch.setattr(Study, "distill", _planted({"G": _raise}))
    study = _study(case)
    with caplog.at_level("WARNING", logger="discover"):
        distill_slots(study, ["F", "G"], one_at_a_time=False, progress=False)
    assert forks == ["fork"]
    assert study.failures == {"G": "ValueError: no equation fits"}  # as one after another
    assert study.fronts["F"].selected.expression == 0.9 * XY[0] * XY[1]
    assert set(study.samples) == {"F"}
    assert "slot G was not distilled: ValueError: no equation fits" in caplog.text
    workers = {r.getMessage().split()[-1] for r in caplog.records if "planted" in r.getMessage()}
    assert len(workers) == 2 and str(os.getpid()) not in workers  # the workers' log, here


def test_a_worker_that_dies_fails_its_slot_and_the_others_go_on(case, forks, monkeypatch):
    monkeypatch.setattr(Study, "distill", _planted({"F": lambda: os._exit(3)}))
    study = _study(case)
    distill_slots(study, ["F", "G"], one_at_a_time=False, progress=False)
    assert forks == ["fork"]
    assert set(study.failures) == {"F"} and "exit code 3" in study.failures["F"]
    assert study.fronts["G"].selected.expression == 0.9 * XY[0] * XY[1]


def test_ctrl_c_stops_the_workers(case, tmp_path, monkeypatch):
    """Ctrl-C (``KeyboardInterrupt``) while the parent waits for its workers stops and
    reaps them and reaches the caller. Raised from the parent's wait once both workers
    run: a SIGINT sent from a timer thread reached no ``KeyboardInterrupt`` in one
    clean-clone run under pytest-xdist (DID NOT RAISE; passed in every other run, cause
    not found)."""
    pids = tmp_path / "pids"

    def hang():
        with pids.open("a") as file:
            file.write(f"{os.getpid()}\n")
        time.sleep(60)

    def running() -> int:
        return len(pids.read_text().split()) if pids.exists() else 0

    waited = parallel_slots.wait

    def interrupted(connections, timeout=None):
        ready = waited(connections, timeout)
        if running() == 2:
            raise KeyboardInterrupt
        return ready

    monkeypatch.setattr(Study, "distill", _planted({"F": hang, "G": hang}))
    monkeypatch.setattr(parallel_slots, "wait", interrupted)
    study = _study(case)
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        distill_slots(study, ["F", "G"], one_at_a_time=False, progress=False)
    assert time.monotonic() - started < 30
    for pid in map(int, pids.read_text().split()):
        with pytest.raises(ProcessLookupError):  # stopped and reaped: no orphan
            os.kill(pid, 0)


@pytest.mark.parametrize(
    ("workers", "slots", "one_at_a_time"),
    [(1, ["F", "G"], False), (None, ["F"], False), (2, ["F", "G"], True)],
    ids=["workers-1", "one-slot", "refit-all"],
)
def test_no_worker_is_forked_where_slots_go_one_after_another(
    case, forks, monkeypatch, workers, slots, one_at_a_time
):
    monkeypatch.setattr(Study, "distill", _planted({}))
    study = _study(case, workers=workers)
    distill_slots(study, slots, one_at_a_time=one_at_a_time, progress=False)
    assert forks == []
    assert set(study.fronts) == set(slots) and not study.failures


def test_auto_workers_are_the_slots_up_to_the_cpus(case, monkeypatch):
    study = _study(case, workers=None)
    monkeypatch.setattr(parallel_slots, "available_cpus", lambda: 1)
    assert parallel_slots.slot_workers(study, ["F", "G"], one_at_a_time=False) == 1
    monkeypatch.setattr(parallel_slots, "available_cpus", lambda: 8)
    assert parallel_slots.slot_workers(study, ["F", "G"], one_at_a_time=False) == 2


@pytest.mark.parametrize("workers", [0, -2])
def test_workers_below_one_are_refused(case, workers):
    config, write = case
    config = {**config, "distill": {**config["distill"], "workers": workers}}
    with pytest.raises(ConfigError, match=r"distill\.workers.*greater than or equal to 1"):
        load_config(write(config, f"bad_{-workers}.yaml"))


def test_a_daemonic_process_distills_one_slot_after_another_and_says_why(case, monkeypatch, caplog):
    study = _study(case, workers=2)
    daemonic = type("Daemonic", (), {"daemon": True})()
    monkeypatch.setattr(parallel_slots.multiprocessing, "current_process", lambda: daemonic)
    with caplog.at_level("INFO", logger="discover"):
        assert parallel_slots.slot_workers(study, ["F", "G"], one_at_a_time=False) == 1
    assert "2 asked, slots distilled one after another" in caplog.text and "daemonic" in caplog.text
