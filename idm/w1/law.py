r"""W1 between a law known by its draws and a population law, with a meaningful error bar.

The quantity is :math:`W_1(\mu, \nu)` for :math:`\mu` the law of a sampler's output (IDM's law
given its training set, say) and :math:`\nu` the population: not the plug-in value between two
m-point samples, whose own sampling floor hides the rate (:mod:`idm.w1.plugin`). Every bound
below holds for the laws themselves; "in expectation" means over the randomization of the
draws (scrambled Sobol points, random offsets and rotations of the population sets), and the
replicates' spread gives the standard error that widens each bound by ``z`` standard errors.

**Upper bounds.** Any coupling's cost bounds W1 from above, and W1 is jointly convex, so for
draws whose empirical measures have mean :math:`\mu` and :math:`\nu`,
:math:`\mathbb{E}\, W_1(\mu_m, \nu_m) \ge W_1(\mu, \nu)`:

* ``exact_upper``: exact OT (POT's network simplex) between ``m_exact`` draws of :math:`\mu`
  and a randomized population set of the same size;
* ``monotone_upper`` (``circle=True``): the angle-monotone coupling of ``m`` draws with the
  continuous circle (:mod:`idm.w1.circle`);
* ``matched_upper`` (``m_match``, off the circle): a permutation coupling of ``m_match`` draws
  with a population set of that size, by median bisection with exact leaves and refinement
  passes (:mod:`idm.w1.matching`): near the exact optimum at sizes exact OT cannot afford;
* ``sobolev_upper`` (``sobolev``: IDM's law against the uniform S^d, d >= 1): the
  :math:`H^{-1}` bound of :mod:`idm.w1.sobolev`, with no population point set, so no
  quantisation: a mean over draws plus a closed-form transport term.

**Lower bounds.** For any potential :math:`\psi` on anchor points :math:`a_k`, the c-transform
:math:`f(z) = \min_k |z - a_k| - \psi_k` is 1-Lipschitz, so
:math:`W_1(\mu, \nu) \ge \mathbb{E}_\mu f - \mathbb{E}_\nu f` (Kantorovich-Rubinstein),
estimated on *fresh* draws of both laws (independent of the potential: unbiased):

* ``dual_lower``: :math:`\psi` = the network simplex's dual on the population set;
* ``monotone_lower`` (``circle=True``): the potential of the monotone coupling;
* ``radial_lower``: :math:`f = -\mathrm{dist}(\cdot, M)` for the population's support M, i.e.
  the mean distance of the draws to the manifold (``distance``);
* ``sphere_lower`` (``sphere=d``, the uniform S^d with d >= 2): the radial gap and a tangential
  potential combined in one Kantorovich pair (:mod:`idm.w1.sphere`), fitted on the first
  replicate and evaluated on ``batches`` fresh randomizations (their spread its error);
* ``semidiscrete_lower`` (``semidiscrete=(x, g)``): the other orientation, with the training
  set's semidiscrete potential g against the population (:mod:`idm.w1.semidiscrete`, any g is
  valid), :math:`f(y) = \min_i |y - x_i| - g_i` and :math:`W_1 \ge \mathbb{E}_\nu f -
  \mathbb{E}_\mu f`. For a law near the training set's (IDM near memorization)
  :math:`\mathbb{E}_\mu f \approx -\bar g`, so the bound approaches the training set's own
  :math:`W_1 \approx F(g)`, where the radial bound goes to 0 (measured on S^6, n = 200, 300
  ascent steps: 0.52 against 0.0035 at c = 0.2; 0.30 against 0.10 at c = 0.4). Far from
  memorization it is weak (S^6, n = 10^4, c = 0.5: 0.029 against the radial 0.107).

:func:`bracket` composes one :class:`Bound` per bound function (:func:`radial_bound`,
:func:`monotone_bounds`, :func:`sphere_bound`, :func:`semidiscrete_bound`, :func:`sobolev_bound`,
:func:`dual_bounds`, :func:`matched_bound`) and reports (:func:`compose`) ``value`` = the
middle of ``[lower, upper]`` (the best of each side, named by ``lower_by`` and ``upper_by``)
and ``error`` = half its width; ``converged`` when the
bracket is not inverted and every solver reached its optimum. Which bound is best depends on the
regime (measured on the circle, c = 1: the exact OT's bounds at n <= 2000 training points, the
monotone ones from 4000 on); the Sobolev bound (``sobolev``) runs when the cheaper bounds'
bracket is wider than ``rtol``, ``exact="auto"`` solves the exact problem only when the bracket
is still wider, and the matching (``m_match``) only when it is wider after that: exact OT of
4096 points with its dual is the tighter pair for lumpy laws (a few hundred training points,
the training set itself), the matching of 2^15-2^16 draws for smooth ones.

:func:`extrapolated`: the plug-in at m, 2m and 4m, extrapolated as
:math:`W(m) = W_\infty + B m^{-\beta}`; ``error`` is the size of the extrapolation
(:math:`|W(4m) - W_\infty|`) plus the replicates' spread, ``lower`` the radial bound: an
estimate, not a certificate.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Mapping

import jax
import numpy as np

from idm.rates import mean_se as _mean_se
from idm.w1 import circle as circle_ot
from idm.w1 import matching
from idm.w1 import sobolev as sobolev_ub
from idm.w1 import sphere as sphere_lb
from idm.w1._record import W1Estimate, read_only
from idm.w1.exact import pot_cost
from idm.w1.potential import c_transform_mean

__all__ = [
    "Bound",
    "Draws",
    "bracket",
    "c_transform_mean",
    "compose",
    "draws",
    "dual_bounds",
    "extrapolated",
    "matched_bound",
    "monotone_bounds",
    "radial_bound",
    "semidiscrete_bound",
    "semidiscrete_lower",
    "sobolev_bound",
    "sphere_bound",
    "width",
]

Draw = Callable[[jax.Array, int], np.ndarray]


@dataclasses.dataclass(frozen=True)
class Bound:
    """One bound on W1 between the two laws, as the bracket composes them.

    Attributes:
        name: its short name (``"radial"``, ``"monotone"``, ``"sphere"``, ``"semidiscrete"``,
            ``"dual"``, ``"sobolev"``, ``"exact"``, ``"matched"``): what ``lower_by`` and
            ``upper_by`` report.
        side: ``"lower"`` or ``"upper"``.
        value: the bound, moved by ``z`` standard errors to its safe side.
        certified: the solver behind it reached its optimum (an exact problem, the matching's
            leaves); a bracket with an uncertified bound is not ``converged``.
        diagnostics: read-only, its entries in the estimate's ``parts``, in order: its mean
            (``"<name>_<side>"``), standard error (``"..._se"``) and its own numbers.
    """

    name: str
    side: str
    value: float
    certified: bool = True
    diagnostics: Mapping = dataclasses.field(default_factory=read_only)

    def __post_init__(self):
        object.__setattr__(self, "diagnostics", read_only(self.diagnostics))


def _bound(name, side, values, z, certified=True, **extra) -> Bound:
    """The bound from replicate values: their mean moved by z standard errors to its side."""
    mean, se = _mean_se(values)
    shift = z * (se if math.isfinite(se) else 0.0)
    key = f"{name}_{side}"
    return Bound(
        name, side, mean - shift if side == "lower" else mean + shift, bool(certified),
        {key: mean, key + "_se": se, **extra},
    )  # fmt: skip


def _exact(x, y):
    """Exact OT between uniform clouds (any sizes): value and the dual on y (POT emd)."""
    import ot

    value, log = ot.emd2([], [], pot_cost(x, y), numItermax=10**9, log=True)
    return float(value), np.asarray(log["v"]), log["result_code"] == 1


def semidiscrete_lower(population_points, law_points, x, g) -> float:
    r"""A lower bound on :math:`W_1(\mu, \nu)` from a potential g on points x (any g).

    :math:`f(y) = \min_i |y - x_i| - g_i` is 1-Lipschitz, so
    :math:`W_1(\mu, \nu) \ge \mathbb{E}_\nu f - \mathbb{E}_\mu f`, here the means over
    ``population_points`` (of :math:`\nu`) and ``law_points`` (of :math:`\mu`), each with
    :func:`c_transform_mean`'s float allowance on the side that keeps it a bound. On points
    independent of g, an unbiased estimate of a certified bound; on two finite sets taken whole,
    a bound on their discrete W1.
    """
    return c_transform_mean(population_points, x, g, side="low") - c_transform_mean(
        law_points, x, g, side="high"
    )


@dataclasses.dataclass(frozen=True)
class Draws:
    """The draws a bracket's bounds share: replicate keys, the law's and the population's.

    Attributes:
        draw, population: the two samplers (``(key, k) -> (k, dim)``).
        keys: one key per replicate.
        points: each replicate's draws of the law (the first replicate's the longest).
        law_points: where the law's means are taken: ``points``, or its ``atoms`` whole.
        population_fresh: each replicate's ``m_fresh`` fresh population points.
        m_fresh: the draws on which a potential is evaluated.
        discrete: the law is its atoms (``law_points`` are exact, not draws).
        z: standard errors added to each bound.
    """

    draw: Draw
    population: Draw
    keys: list
    points: list
    law_points: list
    population_fresh: list
    m_fresh: int
    discrete: bool
    z: float

    def law_side(self, r: int) -> np.ndarray:
        """The law's points of replicate r on which means are taken."""
        return self.law_points[r] if self.discrete else self.points[r][: self.m_fresh]

    def potential_lower(self, anchors, psi, r: int) -> float:
        """E_mu f - E_nu f for the c-transform of psi, on draws independent of replicate r."""
        nxt = (r + 1) % len(self.keys)
        return c_transform_mean(self.law_side(nxt), anchors, psi, side="low") - c_transform_mean(
            self.population_fresh[nxt], anchors, psi, side="high"
        )


def draws(key, draw: Draw, population: Draw, sizes, *, m_fresh, atoms=None, z=2.0) -> Draws:
    """The replicates' draws: ``sizes[r]`` of the law and ``m_fresh`` of the population each.

    Replicate r's key is ``fold_in(key, r)``; its law draws use ``fold_in(., 0)``, its fresh
    population points ``fold_in(., 2)``. Every potential is fitted on one replicate and
    evaluated on the next (independent draws).
    """
    keys = [jax.random.fold_in(key, r) for r in range(len(sizes))]
    points = [
        np.asarray(draw(jax.random.fold_in(k, 0), s), np.float64)
        for k, s in zip(keys, sizes, strict=True)
    ]
    law_points = [np.asarray(atoms, np.float64)] * len(keys) if atoms is not None else points
    fresh = [np.asarray(population(jax.random.fold_in(k, 2), m_fresh)) for k in keys]
    return Draws(draw, population, keys, points, law_points, fresh, m_fresh, atoms is not None, z)


# ------------------------------------------------------------------------------------ bounds


def radial_bound(s: Draws, distance: Callable[[np.ndarray], np.ndarray]) -> Bound:
    """Lower: the law's mean distance to the population's support (f = -dist(., M))."""
    return _bound("radial", "lower", [float(np.mean(distance(p))) for p in s.law_points], s.z)


def monotone_bounds(s: Draws, m: int, anchors: int) -> list[Bound]:
    """Upper and lower on the uniform circle: the monotone coupling of m draws, its potential.

    The lower bound's ``tangential`` is the draws' W1 along the circle (:mod:`idm.w1.circle`).
    """
    couplings = [circle_ot.monotone(p[:m]) for p in s.points]
    upper = _bound("monotone", "upper", [c.cost for c in couplings], s.z)
    anchors_n = min(m, anchors)
    lows = []
    for r, c in enumerate(couplings):
        off = float(jax.random.uniform(jax.random.fold_in(s.keys[r], 4), ()))
        phi = 2 * np.pi * (np.arange(anchors_n) + off) / anchors_n
        points = np.zeros((anchors_n, s.points[r].shape[1]))
        points[:, 0], points[:, 1] = np.cos(phi), np.sin(phi)
        lows.append(s.potential_lower(points, circle_ot.monotone_potential(c, phi), r))
    tangential = float(np.mean([circle_ot.tangential(p[:m]) for p in s.points]))
    return [upper, _bound("monotone", "lower", lows, s.z, tangential=tangential)]


def sphere_bound(s: Draws, d: int, cells: int, batches: int) -> Bound:
    """Lower on the uniform S^d: the radial-tangential pair of :mod:`idm.w1.sphere`.

    One potential and b, fitted on replicate 0 (its draws, a population set of its own),
    evaluated on ``batches`` independent fresh randomizations of ``m_fresh / batches`` draws.
    """
    k0, fit = s.keys[0], s.points[0]
    cell_points = np.asarray(s.population(jax.random.fold_in(k0, 8), cells))
    fit_pop = np.asarray(s.population(jax.random.fold_in(k0, 9), s.m_fresh))
    v = sphere_lb.tangential_potential(fit, cell_points, d)
    b = sphere_lb.best_b(fit[: s.m_fresh], fit_pop, cell_points, v)
    size_b = max(s.m_fresh // batches, 2)
    law_exact = sphere_lb.law_side(s.law_points[0], cell_points, v, b) if s.discrete else None
    values = []
    for j in range(batches):
        kj = jax.random.fold_in(k0, 20 + j)
        pop_side = np.asarray(s.population(jax.random.fold_in(kj, 1), size_b))
        law_j = law_exact
        if law_j is None:
            law_j = sphere_lb.law_side(s.draw(kj, size_b), cell_points, v, b)
        values.append(law_j - sphere_lb.population_side(pop_side, cell_points, v, b))
    return _bound("sphere", "lower", values, s.z, sphere_b=b)


def semidiscrete_bound(s: Draws, x, g) -> Bound:
    """Lower: :func:`semidiscrete_lower` with the potential g on x, on every replicate."""
    values = [
        semidiscrete_lower(s.population_fresh[r], s.law_side(r), x, g) for r in range(len(s.keys))
    ]
    return _bound("semidiscrete", "lower", values, s.z)


def sobolev_bound(key, data, sigma: float, *, m: int, z: float) -> Bound:
    """Upper for IDM's law on ``data`` against the uniform S^d (:func:`idm.w1.sobolev.upper`)."""
    res = sobolev_ub.upper(jax.random.fold_in(key, 30), data, sigma, m=m, z=z)
    return Bound(
        "sobolev", "upper", res.value, True,
        {
            "sobolev_upper": res.value, "sobolev_mean": res.mean,
            "sobolev_mean_se": res.mean_se, "sobolev_transport": res.transport,
            "sobolev_F": res.F, "sobolev_a": res.a, "sobolev_seconds": res.seconds,
        },
    )  # fmt: skip


def dual_bounds(s: Draws, m_exact: int, replicates: int) -> list[Bound]:
    """Upper and lower from exact OT of ``m_exact`` draws: its value and its dual's potential.

    Solved on the first ``replicates`` replicates; a discrete law of at most ``m_exact`` atoms
    enters whole, else the first ``m_exact`` draws (a prefix of a scrambled Sobol net is itself
    balanced). The potential is evaluated on the next replicate's draws.
    """
    ups, lows, ok = [], [], True
    small = s.discrete and len(s.law_points[0]) <= m_exact
    for r, k in enumerate(s.keys[: max(1, min(replicates, len(s.keys)))]):
        x = s.law_points[0] if small else s.points[r][:m_exact]
        y = np.asarray(s.population(jax.random.fold_in(k, 6), m_exact))
        value, v, good = _exact(x, y)
        ok &= bool(good)
        ups.append(value)
        lows.append(s.potential_lower(y, v, r))
    return [
        _bound("exact", "upper", ups, s.z, ok),
        _bound("dual", "lower", lows, s.z, ok, exact_optimal=ok),
    ]


def matched_bound(s: Draws, m_match: int, leaf: int, passes: int) -> Bound:
    """Upper: the bisection matching of ``m_match`` draws of replicate 0 with a population set."""
    y = np.asarray(s.population(jax.random.fold_in(s.keys[0], 7), m_match))
    matched = matching.match(
        jax.random.fold_in(s.keys[0], 10), s.points[0][:m_match], y, leaf=leaf, passes=passes
    )
    return _bound(
        "matched", "upper", [matched.cost], s.z, matched.optimal, matched_optimal=matched.optimal
    )


# ------------------------------------------------------------------------------ composition


def _best(bounds: list[Bound], side: str) -> Bound | None:
    """The best bound of a side (the first of equals), or None."""
    values = [b for b in bounds if b.side == side]
    if not values:
        return None
    pick = max if side == "lower" else min
    return pick(values, key=lambda b: b.value)


def width(bounds: list[Bound]) -> float:
    """Half the best bracket's width over its middle (inf without a bound on each side)."""
    lo, up = _best(bounds, "lower"), _best(bounds, "upper")
    if lo is None or up is None:
        return math.inf
    return (up.value - lo.value) / 2 / max((up.value + lo.value) / 2, 1e-300)


def compose(bounds: list[Bound], *, z: float, **diagnostics) -> W1Estimate:
    """The bracket of ``bounds``: the best of each side, its middle and half-width.

    ``converged`` when the bracket is not inverted (nor missing its upper end) and every bound
    is certified; ``diagnostics["parts"]`` holds every bound's entries in order.
    """
    lo, up = _best(bounds, "lower"), _best(bounds, "upper")
    lower = lo.value if lo is not None else 0.0
    upper = up.value if up is not None else math.nan
    parts = {k: v for b in bounds for k, v in b.diagnostics.items()}
    return W1Estimate(
        value=float((lower + upper) / 2),
        lower=float(lower),
        upper=float(upper),
        error=float(abs(upper - lower) / 2),
        method="bracket",
        converged=bool(lower <= upper and all(b.certified for b in bounds)),
        z=float(z),
        lower_by=lo.name if lo is not None else "",
        upper_by=up.name if up is not None else "",
        diagnostics=dict(diagnostics, parts=read_only(parts)),
    )


def _check_bracket(replicates, exact, sphere, circle):
    if replicates < 1:
        raise ValueError(f"replicates must be >= 1, got {replicates}")
    if exact not in ("auto", "always", "never"):
        raise ValueError(f"exact must be 'auto', 'always' or 'never', got {exact!r}")
    if sphere and (circle or sphere < 2):
        raise ValueError(f"sphere must be 0 or a dimension >= 2 off the circle, got {sphere}")


def bracket(
    key,
    draw: Draw,
    population: Draw,
    *,
    distance: Callable[[np.ndarray], np.ndarray] | None = None,
    circle: bool = False,
    sphere: int = 0,
    m: int = 2**14,
    m_exact: int = 4096,
    m_fresh: int = 2**13,
    anchors: int = 2**13,
    replicates: int = 2,
    exact: str = "auto",
    exact_replicates: int = 1,
    atoms=None,
    m_match: int = 0,
    leaf: int = 256,
    passes: int = 4,
    cells: int = 2048,
    batches: int = 4,
    rtol: float = 0.02,
    z: float = 2.0,
    sobolev: tuple[np.ndarray, float] | None = None,
    semidiscrete: tuple[np.ndarray, np.ndarray] | None = None,
) -> W1Estimate:
    r"""W1 between the law of ``draw`` and the population law of ``population``, bracketed.

    One :class:`Bound` per bound function, the best of each side kept (:func:`compose`); the
    Sobolev bound, exact OT and the matching run, in that order, while :func:`width` > rtol.

    Args:
        key: JAX key; replicate r and every part use keys folded from it (:func:`draws`).
        draw: ``(key, k) -> (k, dim)`` draws of the law (randomized QMC, or iid).
        population: ``(key, k) -> (k, dim)`` a randomized population set (offset/rotated grid).
        distance: the distance of points to the population's support (:func:`radial_bound`).
        circle: the population is the uniform unit circle (:func:`monotone_bounds`).
        sphere: d >= 2 when the population is the uniform S^d (:func:`sphere_bound`); else 0.
        m: draws per replicate of the monotone coupling (``circle``).
        m_exact: size of the exact OT problem (:func:`dual_bounds`).
        m_fresh: the least draws per replicate, and those on which each potential is evaluated.
        replicates: independent randomizations (>= 2 for standard errors).
        exact: ``"auto"`` (exact OT while wider than ``rtol``), ``"always"`` or ``"never"``.
        atoms: the law's atoms when it is discrete (the training set): means over all of them.
        m_match: off the circle, draws of the matching (:func:`matched_bound`; 0: none).
        anchors: circle points carrying the monotone coupling's potential.
        exact_replicates: replicates on which exact OT is solved (1: ``exact_upper_se`` NaN).
        leaf: the matching's exact leaf size.
        passes: the matching's refinement passes.
        cells: anchors of the sphere bound's tangential potential.
        batches: randomizations on which the sphere bound is evaluated (its error: their spread).
        rtol: the relative half-width under which the costlier bounds are skipped.
        z: standard errors added to each bound.
        sobolev: ``(data, sigma)``: the law is IDM's on data, against S^d (:func:`sobolev_bound`).
        semidiscrete: ``(x, g)``: a potential g on points x (:func:`semidiscrete_bound`).

    Returns:
        A :class:`~idm.w1.W1Estimate` (``method="bracket"``; ``diagnostics``: ``parts``, every
        bound with its standard error, ``m``, the most draws in one bound, and ``seconds``).
    """
    _check_bracket(replicates, exact, sphere, circle)
    t0 = time.perf_counter()
    m_match = 0 if circle else int(m_match)
    size = max(m if circle else 0, m_exact if exact != "never" else 0, m_fresh)
    sizes = [max(size, m_match if r == 0 else 0) for r in range(replicates)]
    s = draws(key, draw, population, sizes, m_fresh=m_fresh, atoms=atoms, z=z)
    bounds = [radial_bound(s, distance)] if distance is not None else []
    bounds += monotone_bounds(s, m, anchors) if circle else []
    bounds += [sphere_bound(s, sphere, cells, batches)] if sphere else []
    bounds += [semidiscrete_bound(s, *semidiscrete)] if semidiscrete is not None else []
    if sobolev is not None and width(bounds) > rtol:
        bounds.append(sobolev_bound(key, *sobolev, m=m_fresh, z=z))
    if exact == "always" or (exact == "auto" and width(bounds) > rtol):
        bounds += dual_bounds(s, m_exact, exact_replicates)
    if m_match and width(bounds) > rtol:
        bounds.append(matched_bound(s, m_match, leaf, passes))
    names = {b.name for b in bounds}
    used = (m if circle else 0, m_exact * ("exact" in names), m_match * ("matched" in names))
    seconds = time.perf_counter() - t0
    return compose(bounds, z=z, m=int(max(used)), replicates=int(replicates), seconds=seconds)


def extrapolated(
    key,
    draw: Draw,
    population: Draw,
    *,
    distance: Callable[[np.ndarray], np.ndarray] | None = None,
    m: int = 1024,
    replicates: int = 2,
    rtol: float = 0.05,
) -> W1Estimate:
    r"""The plug-in W1 at m, 2m and 4m, extrapolated to infinitely many draws.

    Fits :math:`W(m) = W_\infty + B m^{-\beta}` through the three replicate means:
    :math:`\beta = \log_2 \frac{W(m) - W(2m)}{W(2m) - W(4m)}`,
    :math:`W_\infty = W(4m) - \frac{W(2m) - W(4m)}{2^\beta - 1}`. The error bar is
    :math:`|W(4m) - W_\infty|` plus two standard errors of W(4m); an extrapolation whose
    differences are not positive and decreasing, or that falls below the radial bound, keeps
    W(4m) with the distance to the radial bound as its error (``converged=False``).

    Returns:
        A :class:`~idm.w1.W1Estimate` with ``method="extrapolated"`` and ``diagnostics`` as
        :func:`bracket`'s (``parts``: the plug-in means and standard errors, ``radial_lower``,
        ``beta``).
    """
    t0 = time.perf_counter()
    w, parts = {}, {}
    for j, size in enumerate((m, 2 * m, 4 * m)):
        vals = []
        for r in range(replicates):
            k = jax.random.fold_in(jax.random.fold_in(key, r), 10 + j)
            x = np.asarray(draw(jax.random.fold_in(k, 0), size))
            y = np.asarray(population(jax.random.fold_in(k, 1), size))
            vals.append(_exact(x, y)[0])
        w[size], se = _mean_se(vals)
        parts[f"plugin_{size}"], parts[f"plugin_{size}_se"] = w[size], se
    radial = 0.0
    if distance is not None:
        radial = float(np.mean(distance(np.asarray(draw(jax.random.fold_in(key, 99), 4 * m)))))
        parts["radial_lower"] = radial
    d1, d2 = w[m] - w[2 * m], w[2 * m] - w[4 * m]
    se4 = parts[f"plugin_{4 * m}_se"]
    se4 = 0.0 if not math.isfinite(se4) else se4
    good = d1 > 0 and d2 > 0 and d1 > d2
    if good:
        beta = math.log2(d1 / d2)
        w_inf = w[4 * m] - d2 / (2**beta - 1)
        good = w_inf > radial
    if good:
        parts["beta"] = beta
        value, error = w_inf, abs(w[4 * m] - w_inf) + 2 * se4
    else:
        value, error = w[4 * m], max(w[4 * m] - radial, 0.0) + 2 * se4
    return W1Estimate(
        value=float(value),
        lower=float(max(radial, value - error)),
        upper=float(w[4 * m] + 2 * se4),
        error=float(error),
        method="extrapolated",
        converged=bool(good and error <= rtol * value),
        z=2.0,
        diagnostics=dict(
            parts=read_only(parts),
            m=4 * m,
            replicates=int(replicates),
            seconds=time.perf_counter() - t0,
        ),  # fmt: skip
    )
