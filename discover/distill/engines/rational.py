"""Deterministic sparse rational regression over a small library of terms.

The target ``t`` (``y``, or ``log y`` when ``y > 0``) is modelled as ``N(X) / D(X)`` with
``N`` and ``D`` sparse sums of library terms. Multiplying out gives a problem linear in
the coefficients, ``t * D(X) = N(X)``, solved by least squares for every small choice of
terms (exhaustive search up to a few terms each). Libraries are monomials of the inputs
(``1, x, x**2, x*z`` ...), for positive inputs ``1, log x`` (power laws when the
target is ``log y``), and ``1, x, z, exp(r*x)`` for a grid of rates ``r`` (each form
that uses the exponential then tunes its rate, :func:`_rate_refined`). It finds
polynomial, rational (Michaelis–Menten, Monod, Hill), exponential, saturating-exponential,
logistic and power-law forms in seconds, and nothing else. The shapes ``a/(b + u)`` and
``c*u/(b + u)`` over every monomial ``u`` (inputs, and their products where the library
has them) are also fitted directly by nonlinear least squares (:func:`saturating_fits`), so
that they are offered even when other choices crowd them out of the linearised shortlist.
"""

from __future__ import annotations

import dataclasses
import itertools
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import sympy
from scipy.optimize import curve_fit

from discover.distill.engines.base import SearchOptions, best_log_offset, register
from discover.distill.engines.rational_system import RationalSystem

LOG_TARGET_SHARE = 0.9
"""Fits in ``log y`` are tried when at least this share of the samples has ``y > 0``."""


@dataclass(frozen=True)
class _View:
    """One library: term columns ``[samples, terms]``, their sympy terms, the target."""

    columns: np.ndarray
    terms: tuple[sympy.Expr, ...]
    log_target: bool
    rational: bool
    family: str
    rate: tuple[int, float] | None = None
    """``(input, r)`` of an exponential library's ``exp(r * x_input)`` column, else None."""


def _monomial_view(X: np.ndarray, symbols: Sequence[sympy.Symbol], degree: int) -> tuple:
    columns, terms = [np.ones(len(X))], [sympy.Integer(1)]
    for d in range(1, degree + 1):
        for combo in itertools.combinations_with_replacement(range(len(symbols)), d):
            columns.append(np.prod(X[:, list(combo)], axis=1))
            terms.append(sympy.Mul(*(symbols[j] for j in combo)))
    return np.stack(columns, axis=1), tuple(terms)


def _log_view(X: np.ndarray, symbols: Sequence[sympy.Symbol]) -> tuple | None:
    positive = [j for j in range(X.shape[1]) if np.all(X[:, j] > 0)]
    if not positive:
        return None
    columns, terms = [np.ones(len(X))], [sympy.Integer(1)]
    for j in positive:
        x, log_x, symbol = X[:, j], np.log(X[:, j]), symbols[j]
        columns += [log_x, x, x * log_x]
        terms += [sympy.log(symbol), symbol, symbol * sympy.log(symbol)]
    return np.stack(columns, axis=1), tuple(terms)


_OCTAVES = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
EXP_RATES = tuple(
    sign * magnitude
    for magnitudes in (_OCTAVES, tuple(round(2**0.5 * m, 4) for m in _OCTAVES[:-1]))
    for magnitude in magnitudes
    for sign in (-1.0, 1.0)
)
"""Rates of the exponential terms ``exp(r * x / span(x))`` tried for each input, a factor
of sqrt(2) apart (the octaves first, then the rates between them); the polishing refit then
tunes the rate. With octaves alone a law such as ``(a + b*exp(-r*x))/(1 + c*exp(-r*x))``
(a logistic curve) can lie a factor 1.4 from the nearest rate, where its linearised fit
ranks below other forms of as many coefficients and never reaches the shortlist."""


def _exp_views(X: np.ndarray, symbols: Sequence[sympy.Symbol]) -> Iterator[_View]:
    """One library ``1, x_0, ..., exp(r * x_j / span)`` per rate and input, rate-major: when
    ``max_fits`` ends the search, it leaves out the finest rates of every input rather than
    every rate of the last inputs."""
    spans = [float(np.ptp(X[:, j])) for j in range(X.shape[1])]
    for rate in EXP_RATES:
        for j in range(len(symbols)):
            if spans[j] > 0:
                view = _exp_view(X, symbols, j, float(f"{rate / spans[j]:.3g}"))
                if view is not None:
                    yield view


def _exp_view(X: np.ndarray, symbols: Sequence[sympy.Symbol], j: int, r: float) -> _View | None:
    """The library ``1, x_0, ..., exp(r * x_j)``; ``None`` where the column overflows."""
    with np.errstate(over="ignore"):
        column = np.exp(r * X[:, j])
    if not np.all(np.isfinite(column)):
        return None
    columns = np.column_stack([np.ones(len(X)), X, column])
    terms = (sympy.Integer(1), *symbols, sympy.exp(sympy.Float(r) * symbols[j]))
    family = f"exp {symbols[j]}"
    return _View(columns, terms, log_target=False, rational=True, family=family, rate=(j, r))


RATE_REACH = 2**0.25
"""How far :func:`_rate_refined` moves an exponential library's rate: to half-way to the
next rate of :data:`EXP_RATES` on either side."""

RATE_XATOL = 0.01
"""Precision of the tuned rate's logarithm (1 %): enough to rank the choice; the polishing
refit of the candidate tunes it further."""


def _terms_of(choice: tuple) -> set[int]:
    """Library terms a choice ``(numerator terms, fixed denominator term, other denominator
    terms)`` uses."""
    num, fixed, den = choice
    return {*num, fixed, *den}


def _rate_refined(
    system: RationalSystem, choice: tuple, X: np.ndarray, symbols: Sequence[sympy.Symbol]
) -> tuple[RationalSystem, tuple | None]:
    """``choice`` fitted with its exponential rate tuned (bounded search on its loss within
    :data:`RATE_REACH` of the library's rate): the rate is a coefficient of the form, and a
    law whose rate lies between two library rates otherwise ranks below forms that fit
    its error (``(a + b*exp(-r*x))/(1 + c*exp(-r*x))``, a logistic curve, behind a form
    with ``x`` and two rates). Returns the system at the tuned rate and the fit
    (:meth:`RationalSystem.fit`), or the given ones when tuning gains nothing."""
    fitted = system.fit(*choice)
    exp_term = len(system.view.terms) - 1
    if system.view.rate is None or fitted is None or exp_term not in _terms_of(choice):
        return system, fitted
    j, rate = system.view.rate

    def at(log_scale: float) -> tuple[RationalSystem, tuple | None]:
        view = _with_rate(system.view, X, rate * float(np.exp(log_scale)))
        tuned = RationalSystem(view, system.y)
        if tuned.gram is None:
            return system, None
        return tuned, tuned.fit(*choice)

    def loss(log_scale: float) -> float:
        found = at(log_scale)[1]
        return found[2] if found is not None else np.inf

    offset = best_log_offset(loss, float(np.log(RATE_REACH)), RATE_XATOL)
    if offset == 0.0:
        return system, fitted
    tuned, refit = at(offset)
    r = tuned.view.rate[1]
    terms = (*tuned.view.terms[:-1], sympy.exp(sympy.Float(r) * symbols[j]))
    tuned.view = dataclasses.replace(tuned.view, terms=terms)
    return tuned, refit


def _with_rate(view: _View, X: np.ndarray, r: float) -> _View:
    """An exponential library ``view`` with its rate set to ``r`` (columns only: its sympy
    terms still name the old rate, which :func:`_rate_refined` sets for the one it keeps)."""
    j = view.rate[0]
    columns = view.columns.copy()
    with np.errstate(over="ignore"):
        columns[:, -1] = np.exp(r * X[:, j])
    return dataclasses.replace(view, columns=columns, rate=(j, r))


def _views(X: np.ndarray, y: np.ndarray, symbols: Sequence[sympy.Symbol], degree: int):
    log_targets = [False, True] if np.mean(y > 0) >= LOG_TARGET_SHARE else [False]
    monomials = _monomial_view(X, symbols, degree)
    logs = _log_view(X, symbols)
    for log_target in log_targets:
        target = "log y" if log_target else "y"
        yield _View(*monomials, log_target=log_target, rational=True, family=f"poly {target}")
        if logs is not None:
            yield _View(*logs, log_target=log_target, rational=False, family=f"log {target}")
    yield from _exp_views(X, symbols)


def _choices(n_terms: int, max_num: int, max_den: int, rational: bool) -> Iterator[tuple]:
    """(numerator terms, fixed denominator term, other denominator terms), simplest first."""
    numerators = [
        combo
        for size in range(1, max_num + 1)
        for combo in itertools.combinations(range(n_terms), size)
    ]
    fixed_terms = range(n_terms) if rational else [0]
    den_sizes = range(0, max_den) if rational else [0]
    for total in range(1, max_num + max_den + 1):
        for num in numerators:
            for den_size in den_sizes:
                if len(num) + den_size + 1 != total:
                    continue
                for fixed in fixed_terms:
                    others = [j for j in range(n_terms) if j != fixed]
                    for den in itertools.combinations(others, den_size):
                        yield num, fixed, den


SCREENINGS = ("pooled", "shape")
"""How term choices compete for the shortlist (see :class:`RationalEngine`)."""


@register("rational")
class RationalEngine:
    """Exhaustive sparse rational fits ``t * D = N`` (see the module docstring).

    Every choice of terms is solved from the Gram matrix of the library (fast). The best
    few by linearised residual are shortlisted, then ranked by their mean squared error on
    ``y`` among all choices of their library family with as many coefficients, and the
    best few of those become candidates. How choices compete for the shortlist
    (``screening``):

    - ``"pooled"`` (default): all choices of one library with as many coefficients. Their
      residuals are relative to different targets (``t`` times the fixed denominator
      term: ``t * s`` is not ``t``), so rational forms of other targets can crowd out the
      best polynomial (a planted ``c0 + c1*s + c2*s*f`` fitted to 60 noisy sites is
      missed).
    - ``"shape"``: only choices with the same target and the same numbers of numerator
      and denominator terms, so that the best choice of every shape is offered. Fronts then
      hold more polynomials, some of which fit a network better than the planted form
      does.

    A fit in ``log y`` weights each sample by ``y`` (so errors count as on ``y``) and uses
    the samples with ``y > 0``.

    Engine-specific options (``extra``): ``degree`` (largest monomial degree; 2 for up
    to two inputs, else 1), ``max_numerator_terms`` (3), ``max_denominator_terms`` (4),
    ``keep`` (fits kept per shortlist group and per number of coefficients and family; 2),
    ``screening`` (``"pooled"`` or ``"shape"``), ``max_fits`` (500000).
    Operators and restarts do not apply; the search is deterministic and stops early only
    when the time budget runs out.
    """

    name = "rational"

    def available(self) -> tuple[bool, str]:
        return True, ""

    def search(
        self, X: np.ndarray, y: np.ndarray, names: Sequence[str], options: SearchOptions
    ) -> list[sympy.Expr]:
        symbols = [sympy.Symbol(n, real=True) for n in names]
        degree = int(options.option("degree", 2 if len(names) <= 2 else 1))
        max_num = int(options.option("max_numerator_terms", 3))
        max_den = int(options.option("max_denominator_terms", 4))
        keep = int(options.option("keep", 2))
        max_fits = int(options.option("max_fits", 500_000))
        screening = str(options.option("screening", "pooled"))
        if screening not in SCREENINGS:
            raise ValueError(
                f"rational engine option screening={screening!r}; choose one of {SCREENINGS}"
            )
        deadline = None
        if options.time_budget_s is not None:
            deadline = time.monotonic() + options.time_budget_s
        fits = 0
        best: dict[tuple[str, int], list[tuple[float, tuple[RationalSystem, tuple]]]] = {}
        for view in _views(X, y, symbols, degree):
            system = RationalSystem(view, y)
            if system.gram is None:
                continue
            if deadline is not None and time.monotonic() > deadline:
                break
            shortlist: dict[tuple[int, ...], list[tuple[float, tuple]]] = {}
            found = _choices(len(view.terms), max_num, max_den, view.rational)
            choices = list(itertools.islice(found, max(0, max_fits - fits)))
            fits += len(choices)
            for choice, score in zip(choices, system.residuals(choices), strict=True):
                num, fixed, den = choice
                group = (len(num), fixed, len(den)) if screening == "shape" else (len(num + den),)
                _keep_best(shortlist, group, score, choice, keep)
            for size, fitted, tuned, choice in _view_fits(system, shortlist, X, symbols, keep):
                _keep_best(best, (view.family, size), fitted[2], (tuned, choice), keep)
        candidates = []
        for entries in best.values():
            for _, (system, choice) in entries:
                candidates.append(system.expression(*choice))
        monomials = _monomial_view(X, symbols, degree)
        for column, term in zip(monomials[0].T[1:], monomials[1][1:], strict=True):
            candidates += saturating_fits(column, term, y)
        return candidates


def _view_fits(
    system: RationalSystem,
    shortlist: dict,
    X: np.ndarray,
    symbols: Sequence[sympy.Symbol],
    keep: int,
) -> Iterator[tuple[int, tuple, RationalSystem, tuple]]:
    """``(coefficients, fit, system, choice)`` of the ``keep`` best-fitting shortlisted
    choices of one view per number of coefficients, each with its exponential rate tuned
    (:func:`_rate_refined`; only these are tuned, which bounds the cost of tuning)."""
    fitted: dict[int, list] = {}
    for entries in shortlist.values():
        for _, choice in entries:
            fit = system.fit(*choice)
            if fit is not None:
                _keep_best(fitted, len(choice[0]) + len(choice[2]), fit[2], choice, keep)
    for size, entries in fitted.items():
        for _, choice in entries:
            tuned, fit = _rate_refined(system, choice, X, symbols)
            if fit is not None:
                yield size, fit, tuned, choice


def saturating_fits(u: np.ndarray, term: sympy.Expr, y: np.ndarray) -> list[sympy.Expr]:
    """``a/(b + u)`` and ``c*u/(b + u)`` (Michaelis–Menten, Monod, Holling II) fitted to
    ``y`` by nonlinear least squares (``scipy.optimize.curve_fit``) over one library term
    ``u`` ``[samples]``; a fit whose denominator changes sign on the samples is left out."""
    shapes = {
        "hyperbola": lambda u, a, b: a / (b + u),
        "saturation": lambda u, c, b: c * u / (b + u),
    }
    fits = []
    scale = float(np.median(np.abs(u))) or 1.0
    for shape, f in shapes.items():
        best = None
        for b0 in (scale, -2 * np.min(u) + scale if np.min(u) < 0 else 0.1 * scale, 10 * scale):
            with np.errstate(all="ignore"):  # u = 0 gives a NaN guess: curve_fit refuses it
                guess = [float(np.mean(y * (b0 + u) / (u if shape == "saturation" else 1))), b0]
            try:
                with warnings.catch_warnings(), np.errstate(all="ignore"):
                    warnings.simplefilter("ignore")
                    theta, _ = curve_fit(f, u, y, p0=guess, maxfev=400)
            except (RuntimeError, ValueError, OverflowError, ZeroDivisionError):
                continue
            denominator = theta[1] + u
            if not (np.all(denominator > 0) or np.all(denominator < 0)):
                continue
            with np.errstate(all="ignore"):
                loss = float(np.mean((f(u, *theta) - y) ** 2))
            if np.isfinite(loss) and (best is None or loss < best[0]):
                best = (loss, theta)
        if best is not None:
            k, b = (sympy.Float(float(v)) for v in best[1])
            numerator = k * term if shape == "saturation" else k
            fits.append(numerator / (b + term))
    return fits


def _keep_best(table: dict, key, score: float, item, keep: int) -> None:
    """Add ``item`` to ``table[key]``, a list of the ``keep`` lowest-scored items."""
    entries = table.setdefault(key, [])
    if len(entries) < keep or score < entries[-1][0]:
        entries.append((score, item))
        entries.sort(key=lambda entry: entry[0])
        del entries[keep:]
