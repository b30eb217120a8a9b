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

``kind="bracket"`` reports ``value`` = the middle of ``[lower, upper]`` (the best of each side,
named by ``lower_by`` and ``upper_by``) and ``error`` = half its width; ``converged`` when the
bracket is not inverted and every solver reached its optimum. Which bound is best depends on the
regime (measured on the circle, c = 1: the exact OT's bounds at n <= 2000 training points, the
monotone ones from 4000 on); the Sobolev bound (``sobolev``) runs when the cheaper bounds'
bracket is wider than ``rtol``, ``exact="auto"`` solves the exact problem only when the bracket
is still wider, and the matching (``m_match``) only when it is wider after that: exact OT of
4096 points with its dual is the tighter pair for lumpy laws (a few hundred training points,
the training set itself), the matching of 2^15-2^16 draws for smooth ones.

``kind="extrapolated"`` (:func:`extrapolated`): the plug-in at m, 2m and 4m, extrapolated as
:math:`W(m) = W_\infty + B m^{-\beta}`; ``error`` is the size of the extrapolation
(:math:`|W(4m) - W_\infty|`) plus the replicates' spread, ``lower`` the radial bound: an
estimate, not a certificate.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable

import jax
import numpy as np

from idm.rates import mean_se as _mean_se
from idm.w1 import circle as circle_ot
from idm.w1 import matching
from idm.w1 import sobolev as sobolev_ub
from idm.w1 import sphere as sphere_lb
from idm.w1.exact import pot_cost
from idm.w1.potential import c_transform_mean

__all__ = ["LawW1", "bracket", "c_transform_mean", "extrapolated", "semidiscrete_lower"]

Draw = Callable[[jax.Array, int], np.ndarray]


@dataclasses.dataclass(frozen=True)
class LawW1:
    """A W1 estimate between two laws, with its error bar.

    Attributes:
        value: the estimate (middle of the bracket, or the extrapolated value).
        lower: the best lower bound (each bound already lowered by ``z`` standard errors).
        upper: the best upper bound (raised by ``z`` standard errors; NaN for extrapolated).
        error: the error bar: half the bracket's width, or the extrapolation's spread.
        kind: ``"bracket"`` or ``"extrapolated"``.
        converged: the bracket is not inverted (``lower <= upper``) and every solver reached its
            optimum; how small the error bar is, ``rel_error`` says.
        m: draws of the law per replicate (the largest size used).
        replicates: independent randomizations.
        parts: every bound computed, by name, with their standard errors (``*_se``).
        seconds: wall time of the evaluation (sampling included).
        lower_by: the bound that set ``lower`` (bracket: ``"radial"``, ``"monotone"``,
            ``"sphere"`` or ``"dual"``; ``""`` when none).
        upper_by: the bound that set ``upper`` (bracket: ``"monotone"``, ``"sobolev"``,
            ``"exact"`` or ``"matched"``; ``""`` when none).
    """

    value: float
    lower: float
    upper: float
    error: float
    kind: str
    converged: bool
    m: int
    replicates: int
    parts: dict
    seconds: float
    lower_by: str = ""
    upper_by: str = ""

    @property
    def rel_error(self) -> float:
        """``error / value``."""
        return self.error / self.value if self.value > 0 else math.inf


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


def _lower(values, z):
    mean, se = _mean_se(values)
    return mean - z * (se if math.isfinite(se) else 0.0), mean, se


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
) -> LawW1:
    r"""W1 between the law of ``draw`` and the population law of ``population``, bracketed.

    Args:
        key: JAX key; replicate r and every part use keys folded from it.
        draw: ``(key, k) -> (k, dim)`` draws of the law (randomized QMC, or iid).
        population: ``(key, k) -> (k, dim)`` a randomized population set (each point marginally
            the population law; a randomly offset or rotated low-discrepancy set is best).
        distance: the distance of points to the population's support (the radial bound).
        circle: the population is the uniform unit circle in the first two coordinates.
        sphere: d >= 2 when the population is the uniform unit sphere S^d of these
            coordinates (the radial-tangential bound of :mod:`idm.w1.sphere`); 0 otherwise.
        m: draws per replicate for the monotone coupling (``circle``).
        m_exact: size of the exact OT problem (its draws: the first ``m_exact`` of a replicate).
        m_fresh: the least draws per replicate, and the draws of each law on which a potential
            is evaluated (the first ``m_fresh`` of the next replicate: independent of it).
        anchors: circle points carrying the monotone coupling's potential.
        replicates: independent randomizations (>= 2 for standard errors).
        exact: ``"auto"`` (the exact problem when the cheaper bounds' bracket is wider than
            ``rtol``), ``"always"`` or ``"never"``.
        exact_replicates: replicates on which the exact problem is solved (its potential is
            evaluated on the next replicate's draws either way); 1 saves the cost of a second
            network simplex and leaves ``exact_upper_se`` NaN (the spread of exact values over
            scramblings measured 0.3% on the circle at n = 1000, 1% on S^2).
        atoms: the law's atoms when it is a discrete law (the training set): its means are then
            exact, over every atom, instead of over fresh draws, and with at most ``m_exact``
            atoms the exact problem takes them all.
        m_match: off the circle, draws of the bisection-matching upper bound
            (:mod:`idm.w1.matching`, on the first replicate; 0: none), solved when the bracket
            of the other bounds is wider than ``rtol``.
        leaf: the matching's exact leaf size.
        passes: the matching's refinement passes (:func:`idm.w1.matching.refine`).
        cells: anchors of the sphere bound's tangential potential.
        batches: independent randomizations (of ``m_fresh / batches`` draws each) on which the
            sphere bound is evaluated: its standard error is their spread.
        rtol: the relative error bar under which ``exact="auto"`` skips the exact problem and
            the matching is skipped.
        z: standard errors added to each bound.
        sobolev: ``(data, sigma)`` when the law is IDM's (``idm.sample(method="idm")``) on
            training points ``data`` (n, d + 1) and the population the uniform S^d of these
            coordinates: the upper bound of :mod:`idm.w1.sobolev` (``m_fresh`` draws, ``z``
            standard errors), solved when the bracket of the bounds before it is wider than
            ``rtol``, before exact OT and the matching (which it can make unnecessary).
        semidiscrete: ``(x, g)``: points x (k, dim) and a potential g (k,) on them, e.g. the
            training set and its semidiscrete dual against the population
            (:func:`idm.w1.semidiscrete.dual_potential`): the lower bound
            :func:`semidiscrete_lower` on every replicate's fresh draws of both laws.

    Returns:
        A :class:`LawW1` with ``kind="bracket"``.
    """
    if replicates < 1:
        raise ValueError(f"replicates must be >= 1, got {replicates}")
    if exact not in ("auto", "always", "never"):
        raise ValueError(f"exact must be 'auto', 'always' or 'never', got {exact!r}")
    t0 = time.perf_counter()
    keys = [jax.random.fold_in(key, r) for r in range(replicates)]
    if sphere and (circle or sphere < 2):
        raise ValueError(f"sphere must be 0 or a dimension >= 2 off the circle, got {sphere}")
    m_match = 0 if circle else int(m_match)
    size = max(m if circle else 0, m_exact if exact != "never" else 0, m_fresh)
    sizes = [max(size, m_match if r == 0 else 0) for r in range(replicates)]
    draws = [
        np.asarray(draw(jax.random.fold_in(k, 0), s), np.float64)
        for k, s in zip(keys, sizes, strict=True)
    ]
    # every potential is fitted on one replicate and evaluated on the next (independent draws)
    law_points = [np.asarray(atoms, np.float64)] * replicates if atoms is not None else draws
    pop_fresh = [np.asarray(population(jax.random.fold_in(k, 2), m_fresh)) for k in keys]
    parts: dict[str, float] = {}
    lowers: dict[str, float] = {}  # by the bound's short name ("sphere" for "sphere_lower")
    uppers: dict[str, float] = {}

    def add_lower(name, values):
        lo, mean, se = _lower(values, z)
        parts[name], parts[name + "_se"] = mean, se
        lowers[name.removesuffix("_lower")] = lo

    def add_upper(name, values):
        mean, se = _mean_se(values)
        parts[name], parts[name + "_se"] = mean, se
        uppers[name.removesuffix("_upper")] = mean + z * (se if math.isfinite(se) else 0.0)

    if distance is not None:
        add_lower("radial_lower", [float(np.mean(distance(p))) for p in law_points])

    def potential_lower(anchors, psi, r):
        """E_mu f - E_nu f for the c-transform of psi, on draws independent of replicate r."""
        nxt = (r + 1) % replicates
        law_side = law_points[nxt] if atoms is not None else law_points[nxt][:m_fresh]
        return c_transform_mean(law_side, anchors, psi, side="low") - c_transform_mean(
            pop_fresh[nxt], anchors, psi, side="high"
        )

    if circle:
        couplings = [circle_ot.monotone(d[:m]) for d in draws]
        add_upper("monotone_upper", [c.cost for c in couplings])
        anchors_n = min(m, anchors)
        lows = []
        for r, c in enumerate(couplings):
            off = float(jax.random.uniform(jax.random.fold_in(keys[r], 4), ()))
            phi = 2 * np.pi * (np.arange(anchors_n) + off) / anchors_n
            anchors = np.zeros((anchors_n, draws[r].shape[1]))
            anchors[:, 0], anchors[:, 1] = np.cos(phi), np.sin(phi)
            lows.append(potential_lower(anchors, circle_ot.monotone_potential(c, phi), r))
        add_lower("monotone_lower", lows)
        parts["tangential"] = float(np.mean([circle_ot.tangential(d[:m]) for d in draws]))

    if sphere:
        # one potential and b, fitted on replicate 0 (its draws, a population set of its own),
        # evaluated on `batches` independent fresh randomizations of m_fresh / batches draws
        k0 = keys[0]
        cell_points = np.asarray(population(jax.random.fold_in(k0, 8), cells))
        fit_pop = np.asarray(population(jax.random.fold_in(k0, 9), m_fresh))
        v = sphere_lb.tangential_potential(draws[0], cell_points, sphere)
        b = sphere_lb.best_b(draws[0][:m_fresh], fit_pop, cell_points, v)
        size_b = max(m_fresh // batches, 2)
        law_exact = None if atoms is None else sphere_lb.law_side(law_points[0], cell_points, v, b)
        values = []
        for j in range(batches):
            kj = jax.random.fold_in(k0, 20 + j)
            pop_side = np.asarray(population(jax.random.fold_in(kj, 1), size_b))
            law_j = law_exact
            if law_j is None:
                law_j = sphere_lb.law_side(draw(kj, size_b), cell_points, v, b)
            values.append(law_j - sphere_lb.population_side(pop_side, cell_points, v, b))
        add_lower("sphere_lower", values)
        parts["sphere_b"] = b

    if semidiscrete is not None:
        x_sd, g_sd = semidiscrete
        add_lower(
            "semidiscrete_lower",
            [
                semidiscrete_lower(
                    pop_fresh[r],
                    law_points[r] if atoms is not None else draws[r][:m_fresh],
                    x_sd,
                    g_sd,
                )  # fmt: skip
                for r in range(replicates)
            ],
        )

    def width():
        if not (lowers and uppers):
            return math.inf
        lo, up = max(lowers.values()), min(uppers.values())
        return (up - lo) / 2 / max((up + lo) / 2, 1e-300)

    if sobolev is not None and width() > rtol:
        res = sobolev_ub.upper(jax.random.fold_in(key, 30), sobolev[0], sobolev[1], m=m_fresh, z=z)
        uppers["sobolev"] = res.value  # mean + z SE + the transport term
        parts["sobolev_upper"], parts["sobolev_mean"], parts["sobolev_mean_se"] = (
            res.value, res.mean, res.mean_se,
        )  # fmt: skip
        parts["sobolev_transport"], parts["sobolev_F"], parts["sobolev_a"] = (
            res.transport, res.F, res.a,
        )  # fmt: skip
        parts["sobolev_seconds"] = res.seconds

    if exact == "always" or (exact == "auto" and width() > rtol):
        ups, lows, ok = [], [], True
        small = atoms is not None and len(law_points[0]) <= m_exact
        for r, k in enumerate(keys[: max(1, min(exact_replicates, replicates))]):
            # a discrete law with few atoms enters whole; else the first m_exact draws (a
            # prefix of a scrambled Sobol net is itself balanced)
            x = law_points[0] if small else draws[r][:m_exact]
            y = np.asarray(population(jax.random.fold_in(k, 6), m_exact))
            value, v, good = _exact(x, y)
            ok &= bool(good)
            ups.append(value)
            lows.append(potential_lower(y, v, r))
        add_upper("exact_upper", ups)
        add_lower("dual_lower", lows)
        parts["exact_optimal"] = float(ok)

    if m_match and width() > rtol:
        y = np.asarray(population(jax.random.fold_in(keys[0], 7), m_match))
        matched = matching.match(
            jax.random.fold_in(keys[0], 10), draws[0][:m_match], y, leaf=leaf, passes=passes
        )
        add_upper("matched_upper", [matched.cost])
        parts["matched_optimal"] = float(matched.optimal)

    lower_by = max(lowers, key=lowers.get, default="")
    upper_by = min(uppers, key=uppers.get, default="")
    lower, upper = lowers.get(lower_by, 0.0), uppers.get(upper_by, math.nan)
    inverted = not lower <= upper  # also when no upper bound was computed (NaN)
    value = (lower + upper) / 2
    error = abs(upper - lower) / 2
    return LawW1(
        value=float(value),
        lower=float(lower),
        upper=float(upper),
        error=float(error),
        kind="bracket",
        converged=bool(
            not inverted
            and parts.get("exact_optimal", 1.0) == 1.0
            and parts.get("matched_optimal", 1.0) == 1.0
        ),
        m=int(
            max(
                m if circle else 0,
                m_exact if "exact_upper" in parts else 0,
                m_match if "matched_upper" in parts else 0,
            )
        ),
        replicates=int(replicates),
        parts=parts,
        seconds=time.perf_counter() - t0,
        lower_by=lower_by,
        upper_by=upper_by,
    )


def extrapolated(
    key,
    draw: Draw,
    population: Draw,
    *,
    distance: Callable[[np.ndarray], np.ndarray] | None = None,
    m: int = 1024,
    replicates: int = 2,
    rtol: float = 0.05,
) -> LawW1:
    r"""The plug-in W1 at m, 2m and 4m, extrapolated to infinitely many draws.

    Fits :math:`W(m) = W_\infty + B m^{-\beta}` through the three replicate means:
    :math:`\beta = \log_2 \frac{W(m) - W(2m)}{W(2m) - W(4m)}`,
    :math:`W_\infty = W(4m) - \frac{W(2m) - W(4m)}{2^\beta - 1}`. The error bar is
    :math:`|W(4m) - W_\infty|` plus two standard errors of W(4m); an extrapolation whose
    differences are not positive and decreasing, or that falls below the radial bound, keeps
    W(4m) with the distance to the radial bound as its error (``converged=False``).
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
    return LawW1(
        value=float(value),
        lower=float(max(radial, value - error)),
        upper=float(w[4 * m] + 2 * se4),
        error=float(error),
        kind="extrapolated",
        converged=bool(good and error <= rtol * value),
        m=4 * m,
        replicates=int(replicates),
        parts=parts,
        seconds=time.perf_counter() - t0,
    )
