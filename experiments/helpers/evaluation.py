"""How the rate app measures W1: in frame coordinates, against a population reference.

W1 is computed in the coordinates (x F^T, |x - x F^T F|), F the manifold's orthonormal frame:
the reference lies in the frame's span, so every Euclidean cost is unchanged (exactly, not
approximately) while the points shrink from D to embedding_dim + 1 coordinates. The training
points lie in that span too, so nearest-training distances are exact there as well.

The reference (``evaluator.reference``): ``grid``, a deterministic low-discrepancy point set of
the uniform law, randomly rotated per seed, where one is available (the circle, S^2, the torus
with d = 1), else an iid sample; or ``iid``. The semidiscrete evaluator compares against the
population law itself (its sampler in frame coordinates).

The law evaluators (``bracket``, ``extrapolated``; :func:`law_w1`) work in the span's own
coordinates y = x F^T (the embedding dimension of them): the methods whose outputs are
convex combinations of training points (idm, dm, train, cfdm) lie there, and the population
sets are randomly offset or rotated grids of the canonical manifold.

Every evaluator returns an :class:`idm.w1.W1Estimate`; :func:`measure` runs the configured one
for a row and :func:`row_fields` is the one translation of an estimate into a row's columns.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np

from experiments.helpers import store
from experiments.helpers.schemas import EvaluatorConfig
from idm import w1
from idm.w1 import W1Estimate, law, semidiscrete

__all__ = [
    "Law",
    "SeedReference",
    "exact_mode",
    "frame_coordinates",
    "frame_sampler",
    "grid_canonical",
    "is_uniform_circle",
    "law_w1",
    "measure",
    "reference",
    "row_fields",
    "seed_reference",
    "span_coordinates",
    "uniform_sphere_dim",
    "w1_in_frame",
]

# The rate app's convergence rule for a semidiscrete value: its standard error within 0.5%.
SEMIDISCRETE_RTOL = 0.005


def frame_coordinates(man, x) -> np.ndarray:
    """(m, k + 1) float64 coordinates (x F^T, |x - x F^T F|) that keep costs to the span of F."""
    x = np.asarray(x, np.float64)
    frame = np.asarray(man.frame, np.float64)
    y = x @ frame.T
    r = np.linalg.norm(x - y @ frame, axis=1, keepdims=True)
    return np.concatenate([y, r], axis=1)


def _random_rotation(key: jax.Array, k: int) -> np.ndarray:
    """Haar-random orthogonal (k, k) matrix."""
    x64 = bool(jax.config.jax_enable_x64)
    g = np.asarray(jax.random.normal(key, (k, k), jnp.float64 if x64 else jnp.float32))
    q, r = np.linalg.qr(g.astype(np.float64))
    return q * np.sign(np.diag(r))


def grid_canonical(man, key: jax.Array, size: int) -> np.ndarray | None:
    """A randomly rotated low-discrepancy point set of the uniform law, or None if none here.

    Circle (and the torus with d = 1): equally spaced angles with a uniform random offset.
    S^2: the Fibonacci lattice, randomly rotated. Its own W1 error is O(1/size) on the circle
    and O(size^(-1/2)) with a small constant on S^2 (spherical-cap discrepancy), well under the
    iid sample's.
    """
    uniform_sphere = man.name in ("circle", "sphere")
    if (uniform_sphere or man.name == "torus") and man.d == 1:
        offset = float(jax.random.uniform(key, ()))
        a = 2 * np.pi * (np.arange(size) + offset) / size
        return np.stack([np.cos(a), np.sin(a)], axis=1)
    if uniform_sphere and man.d == 2:
        i = np.arange(size) + 0.5
        z = 1 - 2 * i / size
        phi = np.pi * (1 + 5**0.5) * i
        rho = np.sqrt(1 - z * z)
        pts = np.stack([rho * np.cos(phi), rho * np.sin(phi), z], axis=1)
        return pts @ _random_rotation(key, 3).T
    return None


def reference(man, key: jax.Array, size: int, kind: str) -> tuple[jax.Array, str]:
    """The population reference (size, D) and the kind actually used ("grid" or "iid")."""
    if kind == "grid":
        canon = grid_canonical(man, key, size)
        if canon is not None:
            frame = np.asarray(man.frame, np.float64)
            return jnp.asarray(canon @ frame, man.frame.dtype), "grid"
    return man.sample(key, size), "iid"


def frame_sampler(man):
    """The population sampler in frame coordinates (jax-traceable, for the semidiscrete solver).

    Build it once per run: the solver's compiled code is cached on this function's identity.
    """
    frame = man.frame

    def sample(key, k):
        x = man.sample(key, k)
        y = x @ frame.T
        r = jnp.linalg.norm(x - y @ frame, axis=1, keepdims=True)
        return jnp.concatenate([y, r], axis=1)

    return sample


def w1_in_frame(x_frame, ref_frame, ev: EvaluatorConfig, key=None, sampler=None) -> W1Estimate:
    """W1 by the configured evaluator between points already in frame coordinates.

    Exact W1 between clouds of different sizes (``train`` at n < m) goes to POT's network
    simplex when POT is installed: measured 3-5x faster here than the assignment problem on
    the cost matrix repeated up to the least common multiple of the sizes (the metric's
    default), with the same value.
    """
    if ev.method == "semidiscrete":  # against the population law itself (``sampler``)
        return semidiscrete.semidiscrete_w1_result(
            key,
            x_frame,
            sampler,
            n_eval=ev.n_eval or 2**18,
            upper=False,
            **({"num_iterations": ev.num_iterations} if ev.num_iterations else {}),
        )
    kwargs = {}
    if ev.method == "sinkhorn":
        kwargs = {
            k: v
            for k, v in (
                ("rtol", ev.rtol),
                ("epsilon", ev.epsilon),
                ("threshold", ev.threshold),
                ("max_iterations", ev.max_iterations),
            )
            if v is not None
        }
    return w1.w1_result(x_frame, ref_frame, method=ev.method, **kwargs)


# ----------------------------------------------------------------------------- law evaluators


def span_coordinates(man, x) -> np.ndarray:
    """(m, k) float64 coordinates x F^T in the frame's span (k = the embedding dimension)."""
    return np.asarray(x, np.float64) @ np.asarray(man.frame, np.float64).T


def is_uniform_circle(man) -> bool:
    """The population is the uniform unit circle (the monotone bounds apply)."""
    return man.d == 1 and man.name in ("circle", "sphere", "torus")


def uniform_sphere_dim(man) -> int:
    """The population's d if it is the uniform unit sphere S^d with d >= 2, else 0."""
    return man.d if man.name == "sphere" and man.d >= 2 else 0


def _population(man):
    """``(key, k) -> (k, embedding_dim)``: a randomized population set in span coordinates."""

    def population(key, k):
        canon = grid_canonical(man, key, k)
        if canon is None:
            return span_coordinates(man, man.sample(key, k))
        return canon

    return population


def _distance(man):
    """Distance to the manifold of points given in span coordinates."""
    frame = jnp.asarray(man.frame)

    def distance(y):
        return np.asarray(man.distance(jnp.asarray(y, frame.dtype) @ frame))

    return distance


def exact_mode(ev: EvaluatorConfig, n: int | None, discrete: bool, circle: bool = False) -> str:
    """The bracket's ``exact`` argument for a law of n training points.

    Beside the matching (``m_match``, off the circle), "auto" solves the exact problem only
    where it can tighten the bracket: a lumpy law, the training set itself with at most
    ``m_exact`` atoms (it enters whole) or a smooth law of at most ``m_exact / 4`` training
    points. Measured on S^2 (the CPU default, 3 seeds): with the exact problem IDM's largest
    error bar went from 6.4% to 2.7% at n = 64 and from 7.4% to 4.7% at 1024, and stayed 6.1%
    at 2048, where its 2-3 s per row bought nothing. On the circle (no matching) "auto" stays.
    """
    if ev.exact_mode != "auto" or not ev.m_match or n is None or circle:
        return ev.exact_mode
    return "auto" if n <= (ev.m_exact if discrete else ev.m_exact // 4) else "never"


def law_w1(
    ev: EvaluatorConfig, key, man, draw, *, atoms=None, n: int | None = None, idm_law=None
) -> W1Estimate:
    """W1 of the law of ``draw`` (span coordinates) against the manifold's population law.

    ``n``: the training points behind the law (:func:`exact_mode`); ``atoms``: the law's atoms
    when it is the training set; ``idm_law``: ``(data_span, sigma)`` when it is IDM's law, for the
    Sobolev upper bound (``ev.sobolev``, on the uniform S^d).
    """
    population, distance = _population(man), _distance(man)
    circle = is_uniform_circle(man)
    sobolev = idm_law if ev.sobolev and (circle or uniform_sphere_dim(man)) else None
    if ev.method == "extrapolated":
        return law.extrapolated(
            key, draw, population, distance=distance, m=ev.m_law, replicates=ev.replicates
        )
    return law.bracket(
        key,
        draw,
        population,
        distance=distance,
        circle=circle,
        sphere=uniform_sphere_dim(man),
        m=ev.m_law,
        m_exact=ev.m_exact,
        m_fresh=ev.m_fresh,
        replicates=ev.replicates,
        exact=exact_mode(ev, n, atoms is not None, circle),
        exact_replicates=ev.exact_replicates,
        atoms=atoms,
        m_match=ev.m_match,
        leaf=ev.match_leaf,
        passes=ev.match_passes,
        cells=ev.cells,
        rtol=ev.auto_rtol,
        z=ev.z,
        sobolev=sobolev,
    )


# ----------------------------------------------------------------------------- one cell's W1


@dataclasses.dataclass(frozen=True)
class SeedReference:
    """A seed's population reference (in frame coordinates), its kind, and the floor W1."""

    points: np.ndarray
    kind: str
    floor: W1Estimate


def seed_reference(man, ev: EvaluatorConfig, keys, size: int, m: int, population=None):
    """The reference of ``size`` points and the floor: ``ev``'s W1 of m population points to it.

    ``keys``: ``(reference, floor sample, evaluation)`` keys; ``population``: the population
    sampler in frame coordinates (the semidiscrete evaluator's, else None).
    """
    ref, kind = reference(man, keys[0], size, ev.reference)
    ref_frame = frame_coordinates(man, ref)
    floor_points = frame_coordinates(man, man.sample(keys[1], m))
    floor = w1_in_frame(floor_points, ref_frame, ev, keys[2], population)
    return SeedReference(ref_frame, "population" if ev.method == "semidiscrete" else kind, floor)


@dataclasses.dataclass(frozen=True)
class Law:
    """A method's law, for the law evaluators: its draws (span coordinates) and what it is.

    Attributes:
        draw: ``(key, k) -> (k, embedding_dim)`` draws of the law.
        n: the training points behind it (:func:`exact_mode`).
        atoms: the law's atoms when it is the training set (else None).
        idm_law: ``(data_span, sigma)`` when it is IDM's law (the Sobolev bound).
    """

    draw: object
    n: int
    atoms: np.ndarray | None = None
    idm_law: tuple | None = None


def measure(ev: EvaluatorConfig, man, key, x, ref: SeedReference, *, law=None, population=None):
    """A method's W1 columns of a row: of its law (``law``, a :class:`Law`) or of its samples x.

    The law evaluators measure the law in span coordinates; otherwise ``ev.plugin`` measures
    the samples against the seed's reference in frame coordinates.
    """
    if law is not None:
        res = law_w1(ev, key, man, law.draw, atoms=law.atoms, n=law.n, idm_law=law.idm_law)
    else:
        res = w1_in_frame(frame_coordinates(man, x), ref.points, ev.plugin, key, population)
    return row_fields(res, ref, ev, m=int(x.shape[0]))


def _converged(res: W1Estimate) -> bool:
    if res.method == "semidiscrete":
        return bool(res.diagnostics["value_se"] <= SEMIDISCRETE_RTOL * res.value)
    return bool(res.converged)


def row_fields(res: W1Estimate, ref: SeedReference, ev: EvaluatorConfig, *, m: int):
    """The W1 columns of a row (:class:`experiments.helpers.rows.Row`) from an estimate.

    The one translation of a :class:`~idm.w1.W1Estimate` into a row. ``w1_error``: the law
    evaluators' own error bar; one standard error of a semidiscrete value (``error / z``); for
    a plug-in value, the seed's floor or Sinkhorn's half-width, whichever is larger. Law rows
    keep every bound in ``w1_parts`` (flags as 0/1; with ``ev.sobolev`` the deciding bounds'
    names too) and their own draws' count as ``m``; plug-in rows the m samples measured
    against the reference.
    """
    info = res.diagnostics
    parts = info.get("parts")
    if parts is not None:  # a law evaluator
        kept = {k: round(float(v) if isinstance(v, bool) else v, 10) for k, v in parts.items()}
        if ev.sobolev:  # which bounds decided (off by default: the rows stay as they were)
            kept.update(lower_by=res.lower_by, upper_by=res.upper_by)
        where = dict(reference="population", evaluation="span", m=info["m"], m_ref=ev.m_exact)
        error, kind, parts_json = res.error, res.method, store.dumps(kept)
        converged = res.converged
    else:
        where = dict(reference=ref.kind, evaluation="ambient", m=m, m_ref=len(ref.points))
        if res.method == "semidiscrete":
            error, kind = res.error / res.z, "semidiscrete"
        else:
            half = res.error if math.isfinite(res.error) else 0.0
            error, kind = max(float(ref.floor.value), float(half)), "plugin"
        parts_json, converged = "", _converged(res) and _converged(ref.floor)
    return dict(
        w1=res.value,
        w1_lower=res.lower,
        w1_upper=res.upper,
        w1_error=error,
        w1_kind=kind,
        epsilon=info.get("epsilon", 0.0),
        converged=bool(converged),
        n_iters=info.get("n_iters", 0),
        w1_tangential=parts.get("tangential", math.nan) if parts is not None else math.nan,
        w1_parts=parts_json,
        **where,
    )
