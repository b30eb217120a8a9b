r"""Evaluation: memorization statistics and the Wasserstein-1 distance between point clouds.

This module owns every call into ott-jax.

**Memorization** (the criterion of the optimal-denoiser memorization studies): with
:math:`d_1 \le d_2` the distances from a sample to its two nearest training points, the sample
is a *copy* when :math:`d_1 / d_2 < 1/3`. On a circle this undercounts copies, because random
training points there come in near-duplicate pairs closer than the end-time noise.

**W1** between the uniform measures :math:`\mu = \frac1n\sum_i\delta_{x_i}` and
:math:`\nu = \frac1m\sum_j\delta_{y_j}` with the Euclidean cost :math:`C_{ij} = |x_i - y_j|`:

.. math::

    W_1(\mu, \nu) = \min_{P \in U(a, b)} \langle P, C\rangle
                  = \max_{f_i + g_j \le C_{ij}} \langle f, a\rangle + \langle g, b\rangle,
    \qquad a = \tfrac1n 1_n,\ b = \tfrac1m 1_m.

``method="sinkhorn"`` (the default) solves the entropic problem with ott-jax,
:math:`P^\varepsilon_{ij} = \exp((f_i + g_j - C_{ij})/\varepsilon)`, and computes three
numbers, streamed in the widest float available:

* ``primal`` :math:`= \langle P^\varepsilon, C\rangle`, the transport cost of the plan (ott's
  ``primal_cost``; never ``reg_ot_cost``, which adds the entropy). Converged, it exceeds W1 by
  about :math:`0.1`-:math:`0.5\,\varepsilon` on the clouds measured; unconverged, the plan is
  infeasible and its cost can fall below W1.
* ``lower`` :math:`= \langle \tilde f, a\rangle + \langle \tilde g, b\rangle` with the
  c-transforms :math:`\tilde f_i = \min_j C_{ij} - g_j`, :math:`\tilde g_j = \min_i C_{ij} -
  \tilde f_i` (or the same from ``f``, whichever is larger): a feasible dual point, so
  ``lower`` :math:`\le W_1` for any potentials, converged or not.
* ``upper``: the cost of :math:`P^\varepsilon` rounded onto :math:`U(a, b)` (Altschuler, Weed
  and Rigollet 2017: scale rows, then columns, down to the marginals and add
  :math:`e_r e_c^\top / |e_r|_1` for the deficits), a feasible plan, so ``upper``
  :math:`\ge W_1`. Its slack is about the marginal error times the typical cost.

The reported ``value`` is ``primal`` clipped to ``[lower, upper]``. The solve is *certified*
(``converged=True``) when :math:`\text{upper} - \text{lower} \le \mathrm{rtol}\cdot
\text{lower} + \mathrm{atol}`, which bounds the error of ``value`` rigorously (up to the
floating-point error of the costs, ~1e-8 in float64).

Epsilon is annealed by halving from :math:`0.05\,\mathrm{diam}`, warm-started (each stage an
ott ``Epsilon(target, init=2, decay=0.8)`` schedule, adaptive momentum on), down to an
absolute target tied to the value measured: annealing stops at
:math:`\varepsilon \approx \mathrm{rtol}\cdot\text{lower}` (or the ``atol`` floor, or the
caller's ``epsilon``). Then Sinkhorn iterates at that epsilon and the bracket is recomputed
after every call: iterating shrinks the rounding slack (``upper - primal``); when the entropic
bias (``primal - lower``) alone nearly fills the tolerance, epsilon is halved (at most
``max_refinements`` times). A solve that ends uncertified (``max_iterations`` spent) returns
``converged=False`` and warns :class:`W1NotConverged`: a number that reaches a results file
always carries its flag, and even then ``[lower, upper]`` holds.

Memory: the dense path stores one ``n x m`` cost matrix in the solver dtype; above
``dense_max`` entries (or with ``batch_size``) the online path recomputes costs ``batch_size``
rows at a time (ott's ``PointCloud(batch_size=...)``, repaired by :mod:`idm._ott_compat`), and
the bounds are streamed the same way, so no ``n x m`` array exists.

``method="exact"``: the assignment problem (SciPy's ``linear_sum_assignment``) on float64
distances, for equal sizes or sizes whose least common multiple is small (each point repeated
``lcm / size`` times); otherwise POT's network simplex when installed.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import typing
import warnings

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "COPY_RATIO",
    "MemorizationReport",
    "W1NotConverged",
    "W1Result",
    "copy_fraction",
    "copy_mask",
    "is_copy",
    "distance_to_manifold",
    "median_nn_distance",
    "memorization_report",
    "nearest_distances",
    "w1",
    "w1_floor",
    "w1_result",
]

COPY_RATIO = 1.0 / 3.0
_HIGHEST = jax.lax.Precision.HIGHEST


def _work_dtype():
    """The widest float JAX gives here: float64 with x64 enabled, float32 otherwise."""
    return jax.dtypes.canonicalize_dtype(jnp.float64)


def _default_block(cpu: int, accelerator: int) -> int:
    """Rows per streamed block: small on CPU (cache), large on GPU/TPU (fewer sequential steps)."""
    return accelerator if jax.default_backend() in ("gpu", "tpu") else cpu


def _sq_dists(a, b, na, nb):
    """``|a_i - b_j|^2`` in the GEMM form, clipped at 0; ``na, nb`` the squared norms."""
    ab = jnp.matmul(a, b.T, precision=_HIGHEST)
    return jnp.maximum(na[:, None] + nb[None, :] - 2.0 * ab, 0.0)


# ------------------------------------------------------------------------------ memorization


def _smallest(vals, idx, k):
    """The ``k`` smallest entries of each row (and their ``idx``), by ``k`` argmin passes.

    For small ``k`` this is several times faster than ``lax.top_k`` on CPU, which sorts.
    """
    cols = jnp.arange(vals.shape[1], dtype=jnp.int32)[None, :]
    out_v, out_i = [], []
    for _ in range(k):
        j = jnp.argmin(vals, axis=1).astype(jnp.int32)
        out_v.append(jnp.take_along_axis(vals, j[:, None], axis=1))
        out_i.append(jnp.take_along_axis(idx, j[:, None], axis=1))
        vals = jnp.where(cols == j[:, None], jnp.inf, vals)
    return jnp.concatenate(out_v, axis=1), jnp.concatenate(out_i, axis=1)


@functools.partial(jax.jit, static_argnames=("k", "block_size", "query_block"))
def _nearest(x, data, k, block_size, query_block):
    """Exact distances to the ``k`` nearest rows of ``data`` (ascending), streamed.

    Candidates come from the GEMM form over data blocks of ``block_size`` (a running k-smallest
    in a ``lax.scan``), queries ``query_block`` at a time, so memory is ``O(query_block * block_size
    + (m + n) D)``. The candidates' distances are then recomputed by direct differences.
    """
    n, D = data.shape
    kk = min(n, k + 2)  # spare candidates guard against rounding ties in the GEMM ranking
    mu = jnp.mean(data, axis=0)
    z = data - mu[None, :]
    nb = -(-n // block_size)
    pad = nb * block_size - n
    zb = jnp.pad(z, ((0, pad), (0, 0))).reshape(nb, block_size, D)
    idx_b = jnp.arange(nb * block_size, dtype=jnp.int32).reshape(nb, block_size)
    nz = jnp.sum(zb * zb, axis=-1)
    nz = jnp.where(idx_b < n, nz, jnp.inf)  # padding rows are never nearest

    def per_query_block(xq):
        xq = xq - mu[None, :]

        def body(carry, block):
            best_d, best_i = carry
            zz, nzz, ii = block
            d2 = nzz[None, :] - 2.0 * jnp.matmul(xq, zz.T, precision=_HIGHEST)
            cand_d = jnp.concatenate([best_d, d2], axis=1)
            cand_i = jnp.concatenate([best_i, jnp.broadcast_to(ii[None, :], d2.shape)], axis=1)
            return _smallest(cand_d, cand_i, kk), None

        q = xq.shape[0]
        init = (jnp.full((q, kk), jnp.inf, x.dtype), jnp.zeros((q, kk), jnp.int32))
        (_, best_i), _ = jax.lax.scan(body, init, (zb, nz, idx_b))
        diff = xq[:, None, :] - z[best_i]
        dist = jnp.sqrt(jnp.sum(diff * diff, axis=-1))
        return jnp.sort(dist, axis=-1)[:, :k]

    m = x.shape[0]
    mq = -(-m // query_block)
    xp = jnp.pad(x, ((0, mq * query_block - m), (0, 0))).reshape(mq, query_block, D)
    return jax.lax.map(per_query_block, xp).reshape(mq * query_block, k)[:m]


def nearest_distances(samples, data, k=2, *, block_size=1024, query_block=256):
    r"""Distances from each sample to its ``k`` nearest training points, ascending.

    Candidates are ranked with the GEMM form :math:`|z|^2 - 2 x\cdot z` streamed over blocks of
    training points (never an ``m x n x D`` array, never ``m x n``), then the distances of the
    ``k + 2`` best candidates are recomputed by direct differences :math:`|x - z|`, so copies at
    distance 1e-6 are measured exactly even in float32 (the GEMM form alone gives ~1e-3 noise).
    Computed in float64 when x64 is enabled, whatever the input dtype.

    Args:
        samples: shape ``(m, D)``.
        data: training points, shape ``(n, D)`` with ``n >= k``.
        k: how many neighbours.
        block_size: training points per streamed block.
        query_block: samples per block.

    Returns:
        Array of shape ``(m, k)``, each row ascending.
    """
    wd = _work_dtype()
    x = jnp.asarray(samples, wd)
    z = jnp.asarray(data, wd)
    if x.ndim != 2 or z.ndim != 2 or x.shape[1] != z.shape[1]:
        raise ValueError(f"need (m, D) samples and (n, D) data, got {x.shape} and {z.shape}")
    if z.shape[0] < k:
        raise ValueError(f"need at least k={k} training points, got {z.shape[0]}")
    if x.shape[0] == 0:
        return jnp.zeros((0, k), wd)
    block_size = max(1, min(block_size, z.shape[0]))
    query_block = max(1, min(query_block, x.shape[0]))
    return _nearest(x, z, k, block_size, query_block)


def copy_mask(samples, data, *, ratio=COPY_RATIO):
    r"""Boolean ``(m,)``: the sample copies a training point, :math:`d_1 < \mathrm{ratio}\, d_2`.

    A sample exactly on a training point (:math:`d_1 = 0`) counts as a copy even when that point
    is duplicated in the training set (:math:`d_2 = 0`).
    """
    return is_copy(nearest_distances(samples, data, 2), ratio=ratio)


def is_copy(nearest, *, ratio=COPY_RATIO):
    """The copy criterion on precomputed ``(m, 2)`` nearest / second-nearest distances.

    The one definition that :func:`copy_mask` and callers with their own neighbour search share.
    """
    d1, d2 = nearest[:, 0], nearest[:, 1]
    return (d1 < ratio * d2) | (d1 == 0)


def copy_fraction(samples, data, *, ratio=COPY_RATIO) -> float:
    """Fraction of samples that copy a training point (the 1/3-ratio criterion)."""
    return float(jnp.mean(copy_mask(samples, data, ratio=ratio)))


def median_nn_distance(samples, data) -> float:
    """Median distance from a sample to its nearest training point."""
    return float(jnp.median(nearest_distances(samples, data, 1)[:, 0]))


def distance_to_manifold(samples, manifold) -> float:
    """Mean distance of the samples to the manifold (its closed-form ``distance``)."""
    return float(jnp.mean(manifold.distance(jnp.asarray(samples))))


class MemorizationReport(typing.NamedTuple):
    """Memorization statistics of a sample set against its training set.

    Attributes:
        copy_fraction: fraction of samples with :math:`d_1 / d_2 < 1/3`.
        median_nn_distance: median of :math:`d_1`.
        manifold_distance: mean distance to the manifold (NaN when none was given).
        nearest: ``(m, 2)`` array of :math:`(d_1, d_2)`.
    """

    copy_fraction: float
    median_nn_distance: float
    manifold_distance: float
    nearest: jax.Array


def memorization_report(samples, data, manifold=None, *, ratio=COPY_RATIO) -> MemorizationReport:
    """All memorization statistics from one nearest-neighbour pass.

    Args:
        samples: shape ``(m, D)``.
        data: training points, shape ``(n, D)``, ``n >= 2``.
        manifold: optional object with ``.distance(x)``.
        ratio: the copy threshold on :math:`d_1 / d_2`.

    Returns:
        A :class:`MemorizationReport`.
    """
    nd = nearest_distances(samples, data, 2)
    copies = (nd[:, 0] < ratio * nd[:, 1]) | (nd[:, 0] == 0)
    dist = math.nan if manifold is None else distance_to_manifold(samples, manifold)
    return MemorizationReport(
        copy_fraction=float(jnp.mean(copies)),
        median_nn_distance=float(jnp.median(nd[:, 0])),
        manifold_distance=dist,
        nearest=nd,
    )


# ------------------------------------------------------------------------------------- W1


class W1NotConverged(UserWarning):
    """A W1 solve ended without meeting its stopping rule; its record has converged=False."""


@dataclasses.dataclass(frozen=True)
class W1Result:
    r"""A W1 value with its solver diagnostics.

    Attributes:
        value: transport cost of the returned plan under the Euclidean cost (for Sinkhorn the
            entropic plan's ``primal_cost``, clipped to ``[lower, upper]``; for ``exact`` the
            optimum).
        converged: for Sinkhorn, the bracket certifies ``upper - lower <= rtol * lower +
            atol``; for ``exact``, the solver reached optimality. Never drop this flag on the
            way to a results file.
        n_iters: Sinkhorn iterations over all stages (0 for ``exact``).
        method: ``"sinkhorn"`` or ``"exact"``.
        epsilon: final absolute entropic regularisation (0 for ``exact``).
        lower: a certified lower bound on W1 (c-transformed dual potentials).
        upper: a certified upper bound on W1 (cost of the rounded, feasible plan).
        marginal_error: :math:`|P1 - a|_1 + |P^\top 1 - b|_1` of the returned plan.
    """

    value: float
    converged: bool
    n_iters: int
    method: str
    epsilon: float = 0.0
    lower: float = math.nan
    upper: float = math.nan
    marginal_error: float = 0.0

    @property
    def rel_gap(self) -> float:
        """``(value - lower) / lower``: how far the certificate leaves the value uncertain."""
        return (self.value - self.lower) / self.lower if self.lower > 0 else math.inf


def _check_clouds(x, y):
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"need (n, D) and (m, D) point clouds, got {x.shape} and {y.shape}")
    if x.shape[0] == 0 or y.shape[0] == 0:
        raise ValueError("W1 needs non-empty point clouds")
    for name, z in (("x", x), ("y", y)):
        bad = ~np.isfinite(np.asarray(z)).all(axis=1)
        if bad.any():
            raise FloatingPointError(
                f"W1: {int(bad.sum())} of {len(bad)} points of {name} are not finite "
                f"(first at row {int(np.argmax(bad))})"
            )


# ---------------------------------------------------------------------------------- exact


def _pairwise_np(x, y):
    """Float64 Euclidean distances, GEMM form on centred points (error ~1e-8 at 0)."""
    mu = (x.sum(0) + y.sum(0)) / (len(x) + len(y))
    x, y = x - mu, y - mu
    sq = (x * x).sum(1)[:, None] + (y * y).sum(1)[None, :] - 2.0 * (x @ y.T)
    return np.sqrt(np.maximum(sq, 0.0))


def _exact_w1(x, y, *, max_size=8192, num_iter_max=10**8) -> W1Result:
    from scipy.optimize import linear_sum_assignment

    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    _check_clouds(x, y)
    n, m = len(x), len(y)
    size = math.lcm(n, m)
    cost = _pairwise_np(x, y)
    if n == m or size <= max_size:
        if size != n or size != m:
            cost = np.repeat(np.repeat(cost, size // n, axis=0), size // m, axis=1)
        rows, cols = linear_sum_assignment(cost)
        # the matched pairs' distances by direct differences (exact 0 for equal points)
        i, j = rows // (size // n), cols // (size // m)
        value = float(np.linalg.norm(x[i] - y[j], axis=1).sum() / size)
        return W1Result(value, True, 0, "exact", 0.0, value, value, 0.0)
    try:
        import ot
    except ImportError:
        raise ValueError(
            f"exact W1 for sizes {n} and {m} (lcm {size} > max_size={max_size}) needs POT; "
            "use equal sizes or method='sinkhorn'"
        ) from None
    a = np.full(n, 1.0 / n)
    b = np.full(m, 1.0 / m)
    value, log = ot.emd2(a, b, cost, numItermax=num_iter_max, log=True)
    ok = log["result_code"] == 1
    if not ok:
        warnings.warn(f"POT emd2 did not reach optimality: {log['warning']}", W1NotConverged, 3)
    value = float(value)
    return W1Result(value, bool(ok), 0, "exact", 0.0, value if ok else math.nan, value, 0.0)


# ------------------------------------------------------------------------------- Sinkhorn

_INNER = 10  # ott's inner_iterations: the marginal error is checked every _INNER iterations
_DECAY = 0.8  # per-iteration epsilon decay inside a stage (from 2 eps to eps in 3 iterations)


def _gemm_euclidean_cost():
    """Builds ott's ``costs.Euclidean`` with ``all_pairs`` as one GEMM (for the online mode)."""
    from ott.geometry import costs

    @jax.tree_util.register_pytree_node_class
    class GemmEuclidean(costs.Euclidean):
        """``|x - y|`` as ``sqrt(max(|x|^2 + |y|^2 - 2 x.y, 0))``, matmul precision highest."""

        def all_pairs(self, x, y):  # noqa: D102
            na = jnp.sum(x * x, axis=-1)
            nb = jnp.sum(y * y, axis=-1)
            return jnp.sqrt(_sq_dists(x, y, na, nb))

    return GemmEuclidean


@functools.cache
def _gemm_euclidean():
    return _gemm_euclidean_cost()()


@functools.partial(jax.jit, static_argnames=("iters", "batch_size", "dense"))
def _sinkhorn_stage(
    xs, ys, cost, f, g, eps, init, threshold, momentum, *, iters, batch_size, dense
):
    """One warm-started ott-jax Sinkhorn call of at most ``iters`` iterations.

    Epsilon follows ott's ``Epsilon(eps, init, decay)``: ``max(init * decay^it, 1) * eps``.
    ``momentum`` (a traced bool) switches ott's adaptive over-relaxation (Lehmann et al. 2021,
    from iteration ``3 * _INNER``, set from the observed error decay) on or off without a
    recompilation: off, its error gate is -inf and every weight is 1.
    """
    from ott.geometry import epsilon_scheduler, geometry, pointcloud
    from ott.problems.linear import linear_problem
    from ott.solvers.linear import acceleration, sinkhorn

    schedule = epsilon_scheduler.Epsilon(eps, init=init, decay=_DECAY)
    if dense:
        geom = geometry.Geometry(cost_matrix=cost, epsilon=schedule)
    else:
        geom = pointcloud.PointCloud(
            xs, ys, cost_fn=_gemm_euclidean(), batch_size=batch_size, epsilon=schedule
        )
    gate = jnp.where(momentum, jnp.inf, -jnp.inf).astype(f.dtype)
    accel = acceleration.Momentum(
        start=3 * _INNER, error_threshold=gate, value=jnp.ones((), f.dtype)
    )
    solver = sinkhorn.Sinkhorn(
        threshold=threshold, max_iterations=iters, inner_iterations=_INNER, momentum=accel
    )
    with jax.numpy_rank_promotion("allow"):  # ott broadcasts implicitly inside
        out = solver(linear_problem.LinearProblem(geom), init=(f, g))
        return out.f, out.g, out.n_iters, out.converged


@functools.partial(jax.jit, static_argnames=("block",))
def _dual_bound(x, y, g, block):
    r"""Lower bound :math:`\langle\tilde f, a\rangle + \langle\tilde g, b\rangle` from ``g``."""
    nx = jnp.sum(x * x, axis=-1)
    ny = jnp.sum(y * y, axis=-1)
    g = g.astype(x.dtype)

    def row_min(args):
        xi, nxi = args
        c = jnp.sqrt(_sq_dists(xi[None, :], y, nxi[None], ny))[0]
        return jnp.min(c - g)

    ft = jax.lax.map(row_min, (x, nx), batch_size=block)

    def col_min(args):
        yj, nyj = args
        c = jnp.sqrt(_sq_dists(yj[None, :], x, nyj[None], nx))[0]
        return jnp.min(c - ft)

    gt = jax.lax.map(col_min, (y, ny), batch_size=block)
    return jnp.mean(ft) + jnp.mean(gt)


@jax.jit
def _dual_bound_dense(cost, g):
    ft = jnp.min(cost - g[None, :], axis=1)
    gt = jnp.min(cost - ft[:, None], axis=0)
    return jnp.mean(ft) + jnp.mean(gt)


@functools.partial(jax.jit, static_argnames=("block",))
def _bounds(x, y, f, g, eps, block):
    r"""Value, lower and upper bounds and marginal error of the plan of ``(f, g)``, streamed.

    Three passes over the cost, ``block`` rows at a time, in the dtype of ``x``: (1) rows of
    P: row sums, :math:`\langle P, C\rangle`, :math:`\tilde f = g^c`; (2) columns: column
    sums, sums after the row scaling, :math:`\tilde g = \tilde f^c` and :math:`g' = f^c`; (3)
    rows of the rounded plan, the deficit term and :math:`f' = g'^c`. The lower bound is the
    better of the two feasible dual points :math:`(\tilde f, \tilde g)` and :math:`(f', g')`.
    """
    wd = x.dtype
    f, g, eps = f.astype(wd), g.astype(wd), eps.astype(wd)
    n, m = x.shape[0], y.shape[0]
    a, b = 1.0 / n, 1.0 / m
    nx = jnp.sum(x * x, axis=-1)
    ny = jnp.sum(y * y, axis=-1)

    def cost_row(p, npp, q, nq):
        return jnp.sqrt(_sq_dists(p[None, :], q, npp[None], nq))[0]

    def pass1(args):
        xi, nxi, fi = args
        c = cost_row(xi, nxi, y, ny)
        p = jnp.exp((fi + g - c) / eps)
        return jnp.sum(p), jnp.sum(p * c), jnp.min(c - g)

    r, prim, ft = jax.lax.map(pass1, (x, nx, f), batch_size=block)
    s = jnp.minimum(a / r, 1.0)

    def pass2(args):
        yj, nyj, gj = args
        c = cost_row(yj, nyj, x, nx)
        p = jnp.exp((f + gj - c) / eps)
        return jnp.sum(p), jnp.sum(p * s), jnp.min(c - ft), jnp.min(c - f)

    col, c1, gt, g2 = jax.lax.map(pass2, (y, ny, g), batch_size=block)
    t = jnp.minimum(b / c1, 1.0)
    ec = b - t * c1

    def pass3(args):
        xi, nxi, fi, si = args
        c = cost_row(xi, nxi, y, ny)
        q = si * jnp.exp((fi + g - c) / eps) * t
        return jnp.sum(q), jnp.sum(q * c), jnp.dot(c, ec, precision=_HIGHEST), jnp.min(c - g2)

    rs, cost2, cec, f2 = jax.lax.map(pass3, (x, nx, f, s), batch_size=block)
    er = a - rs
    mass = jnp.sum(er)
    extra = jnp.where(mass > 0, jnp.dot(er, cec) / jnp.where(mass > 0, mass, 1.0), 0.0)
    upper = jnp.sum(cost2) + extra
    value = jnp.sum(prim)
    lower = jnp.maximum(a * jnp.sum(ft) + b * jnp.sum(gt), a * jnp.sum(f2) + b * jnp.sum(g2))
    merr = jnp.sum(jnp.abs(r - a)) + jnp.sum(jnp.abs(col - b))
    return value, lower, upper, merr


@jax.jit
def _center(x, y):
    mu = (jnp.sum(x, axis=0) + jnp.sum(y, axis=0)) / (x.shape[0] + y.shape[0])
    x, y = x - mu[None, :], y - mu[None, :]
    diam = jnp.max(jnp.linalg.norm(x, axis=1)) + jnp.max(jnp.linalg.norm(y, axis=1))
    return x, y, diam


@jax.jit
def _dense_cost(x, y):
    nx = jnp.sum(x * x, axis=-1)
    ny = jnp.sum(y * y, axis=-1)
    return jnp.sqrt(_sq_dists(x, y, nx, ny))


def _sinkhorn_w1(
    x,
    y,
    *,
    rtol=0.01,
    atol=None,
    epsilon=None,
    threshold=1e-3,
    min_threshold=1e-6,
    max_iterations=20_000,
    stage_iterations=100,
    max_refinements=3,
    batch_size=None,
    dense_max=2**26,
    dtype=None,
    momentum=True,
    block=None,
) -> W1Result:
    wd = _work_dtype()
    x = jnp.asarray(x, wd)
    y = jnp.asarray(y, wd)
    _check_clouds(x, y)
    x, y, diam = _center(x, y)
    diam = float(diam)
    n, m = x.shape[0], y.shape[0]
    if diam == 0.0:  # every point at the same place
        return W1Result(0.0, True, 0, "sinkhorn", 0.0, 0.0, 0.0, 0.0)
    atol = 1e-5 * diam if atol is None else float(atol)
    dense = batch_size is None and n * m <= dense_max
    if not dense:
        from idm import _ott_compat

        _ott_compat.ensure_online_mode()
        batch_size = _default_block(1024, 4096) if batch_size is None else int(batch_size)
    # dense: costs computed in the work dtype, stored in the solver dtype (float32: rounding
    # ~1e-7 C, far below eps). Online: costs are recomputed in the solver dtype by a GEMM,
    # whose float32 cancellation error (~1e-7 |x|^2 / d, 2e-5 at d = 0.01) would rival small
    # eps, so the online path iterates in the work dtype unless told otherwise.
    dtype = jnp.dtype(dtype if dtype is not None else (jnp.float32 if dense else wd))
    xs, ys = x.astype(dtype), y.astype(dtype)
    cost = _dense_cost(x, y).astype(dtype) if dense else None
    block = max(1, min(_default_block(256, 4096) if block is None else block, n, m))
    state = {"f": jnp.zeros(n, dtype), "g": jnp.zeros(m, dtype), "iters": 0, "mom": momentum}

    def run(eps, init, thr, polish=False):
        """One call of ``stage_iterations``; with ``polish``, ``_INNER`` plain iterations.

        Over-relaxed iterates overshoot the marginals, so bounds are taken after a few plain
        iterations (a huge threshold stops the call at its first check). A non-finite result
        is redone from the same start without momentum, which then stays off.
        """
        mom = state["mom"] and not polish
        points = (None, None) if dense else (xs, ys)  # dense: shapes of D not traced
        args = (*points, cost, state["f"], state["g"]) + tuple(
            jnp.asarray(v, dtype) for v in (eps, init, jnp.inf if polish else thr)
        )
        static = dict(iters=stage_iterations, batch_size=batch_size, dense=dense)
        f, g, it, conv = _sinkhorn_stage(*args, jnp.asarray(mom), **static)
        if mom and not bool(jnp.all(jnp.isfinite(f)) & jnp.all(jnp.isfinite(g))):
            state["mom"] = False
            f, g, it, conv = _sinkhorn_stage(*args, jnp.asarray(False), **static)
        state["iters"] += int(it)
        state["f"], state["g"] = f, g
        return bool(conv) and not polish

    def lower_bound():
        if dense:
            return float(_dual_bound_dense(cost, state["g"]))
        return float(_dual_bound(xs, ys, state["g"], block))

    def goal(lower):
        if epsilon is not None:
            return float(epsilon)
        return max(rtol * max(lower, 0.0), atol)

    # 1. anneal: halve eps (warm-started) until the next halving would pass the goal
    eps, init = max(0.05 * diam, goal(0.0)), 1.0
    while state["iters"] < max_iterations:
        run(eps, init, threshold)
        nxt = max(eps / 2, goal(lower_bound()))
        if nxt >= eps:
            break
        eps, init = nxt, eps / nxt
    # 2. iterate at eps, bracketing W1 after every call, until the bracket certifies. At fixed
    #    eps, iterating shrinks the rounding slack (upper - value) but not the entropic bias
    #    (value - lower ~ eps); when the bias alone nearly fills the tolerance, halve eps.
    refinements, conv = 0, False
    while True:
        if state["iters"] < max_iterations:
            conv = run(eps, init, min_threshold) or run(eps, 1.0, min_threshold, polish=True)
        init = 1.0
        bounds = _bounds(x, y, state["f"], state["g"], jnp.asarray(eps, wd), block)
        primal, lower, upper, merr = (float(v) for v in bounds)
        tol = rtol * max(lower, 0.0) + atol
        certified = upper - lower <= tol
        if certified or state["iters"] >= max_iterations:
            break
        if primal - lower > 0.75 * tol and epsilon is None and refinements < max_refinements:
            refinements += 1
            eps, init = eps / 2, 2.0
        elif conv:  # converged to min_threshold and still uncertified: nothing left to do
            break
    value = min(max(primal, lower), upper)
    return W1Result(value, bool(certified), state["iters"], "sinkhorn", eps, lower, upper, merr)


def w1_result(x, y, *, method="sinkhorn", warn=True, **kwargs) -> W1Result:
    r"""W1 between the uniform measures on two point clouds, with diagnostics.

    Args:
        x: shape ``(n, D)``.
        y: shape ``(m, D)``.
        method: ``"sinkhorn"`` (ott-jax, any sizes, online for large ``n m``) or ``"exact"``.
        warn: emit :class:`W1NotConverged` when the result is not converged.
        **kwargs: solver options. Sinkhorn:

            * ``rtol`` (0.01), ``atol`` (``1e-5 diam``): the certificate
              ``value - lower <= rtol lower + atol`` and the epsilon goal
              ``max(rtol lower, atol)``;
            * ``epsilon``: a fixed final absolute epsilon instead of the goal (no refinement);
            * ``threshold`` (1e-3): ott's marginal-error threshold (L1);
            * ``max_iterations`` (20000): total Sinkhorn iterations over all stages;
            * ``stage_iterations`` (100): iterations per annealing stage / call;
            * ``max_refinements`` (3): extra halvings of epsilon when uncertified;
            * ``batch_size``: force the online path with this many rows per block (default
              1024 on CPU, 4096 on GPU when the online path is chosen by size);
            * ``block``: rows per block of the streamed bounds (256 on CPU, 4096 on GPU);
            * ``dense_max`` (2**26): the largest ``n m`` solved with a stored cost matrix;
            * ``dtype``: dtype of the Sinkhorn iterations; default float32 on the dense
              path (costs computed in float64 when x64 is enabled, then stored in float32)
              and the widest float on the online path. The bounds and the value are always
              computed in the widest float available;
            * ``momentum`` (True): ott's adaptive over-relaxation.

            Exact: ``max_size`` (8192), the largest ``lcm(n, m)`` solved as an assignment.

    Returns:
        A :class:`W1Result`.
    """
    if method == "sinkhorn":
        res = _sinkhorn_w1(x, y, **kwargs)
    elif method == "exact":
        res = _exact_w1(x, y, **kwargs)
    else:
        raise ValueError(f"method must be 'sinkhorn' or 'exact', got {method!r}")
    if not np.isfinite(res.value):
        raise FloatingPointError(
            f"W1 by {res.method} is not finite ({res.value}) after {res.n_iters} iterations "
            f"(epsilon {res.epsilon})"
        )
    if warn and not res.converged and res.method == "sinkhorn":
        warnings.warn(
            f"W1 by Sinkhorn not certified: value {res.value:.6g}, bracket "
            f"[{res.lower:.6g}, {res.upper:.6g}], eps {res.epsilon:.3g}, "
            f"{res.n_iters} iterations, marginal error {res.marginal_error:.2g}",
            W1NotConverged,
            stacklevel=2,
        )
    return res


def w1(x, y, *, method="sinkhorn", **kwargs) -> float:
    """W1 between two point clouds: the ``value`` of :func:`w1_result` (warns if unconverged)."""
    return w1_result(x, y, method=method, **kwargs).value


def w1_floor(key, sampler, m, *, method="sinkhorn", **kwargs) -> W1Result:
    """The evaluator's own floor: W1 between two independent population samples of size m.

    Args:
        key: PRNG key.
        sampler: ``(key, m) -> (m, D)`` population sampler, e.g. ``manifold.sample``.
        m: sample size of each side.
        method: as in :func:`w1_result`.
        **kwargs: as in :func:`w1_result`.

    Returns:
        A :class:`W1Result`; report its ``value`` beside every W1 measured at this m.
    """
    k1, k2 = jax.random.split(key)
    return w1_result(sampler(k1, m), sampler(k2, m), method=method, **kwargs)
