r"""W1 between two point clouds by entropic OT (ott-jax Sinkhorn), with a certified bracket.

W1 between the uniform measures :math:`\mu = \frac1n\sum_i\delta_{x_i}` and
:math:`\nu = \frac1m\sum_j\delta_{y_j}` with the Euclidean cost :math:`C_{ij} = |x_i - y_j|`:

.. math::

    W_1(\mu, \nu) = \min_{P \in U(a, b)} \langle P, C\rangle
                  = \max_{f_i + g_j \le C_{ij}} \langle f, a\rangle + \langle g, b\rangle,
    \qquad a = \tfrac1n 1_n,\ b = \tfrac1m 1_m.

:func:`sinkhorn` solves the entropic problem with ott-jax,
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
rows at a time (ott's ``PointCloud(batch_size=...)``, repaired by :mod:`idm._ott`), and
the bounds are streamed the same way, so no ``n x m`` array exists.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

from idm._backend import backend_block, work_dtype
from idm._geometry import sq_dists
from idm._ott import ensure_online_mode, gemm_euclidean
from idm.w1._record import W1Estimate, check_clouds

__all__ = ["sinkhorn"]

_HIGHEST = jax.lax.Precision.HIGHEST

_INNER = 10  # ott's inner_iterations: the marginal error is checked every _INNER iterations
_DECAY = 0.8  # per-iteration epsilon decay inside a stage (from 2 eps to eps in 3 iterations)


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
            xs, ys, cost_fn=gemm_euclidean(), batch_size=batch_size, epsilon=schedule
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
        c = jnp.sqrt(sq_dists(xi[None, :], y, nxi[None], ny))[0]
        return jnp.min(c - g)

    ft = jax.lax.map(row_min, (x, nx), batch_size=block)

    def col_min(args):
        yj, nyj = args
        c = jnp.sqrt(sq_dists(yj[None, :], x, nyj[None], nx))[0]
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
        return jnp.sqrt(sq_dists(p[None, :], q, npp[None], nq))[0]

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
    return jnp.sqrt(sq_dists(x, y, nx, ny))


def _estimate(value, lower, upper, certified, n_iters, eps, merr) -> W1Estimate:
    return W1Estimate(
        value, lower, upper, (upper - lower) / 2, "sinkhorn", bool(certified),
        lower_by="dual", upper_by="rounded plan",
        diagnostics={"n_iters": n_iters, "epsilon": eps, "marginal_error": merr},
    )  # fmt: skip


@dataclasses.dataclass(frozen=True)
class _Problem:
    """The centred clouds and how they are solved: dense cost or online, dtypes, blocks."""

    x: jax.Array  # work dtype, centred
    y: jax.Array
    xs: jax.Array | None  # solver dtype (online path); None on the dense path
    ys: jax.Array | None
    cost: jax.Array | None  # dense path: the cost matrix in the solver dtype
    dtype: jnp.dtype
    batch_size: int | None
    block: int
    stage_iterations: int

    @property
    def dense(self) -> bool:
        return self.cost is not None

    def lower_bound(self, g) -> float:
        """The dual lower bound from the column potential g."""
        if self.dense:
            return float(_dual_bound_dense(self.cost, g))
        return float(_dual_bound(self.xs, self.ys, g, self.block))


class _State(NamedTuple):
    f: jax.Array
    g: jax.Array
    iters: int
    momentum: bool  # off for good once an over-relaxed call went non-finite


def _problem(x, y, *, batch_size, dense_max, dtype, block, stage_iterations) -> _Problem:
    wd = x.dtype
    n, m = x.shape[0], y.shape[0]
    dense = batch_size is None and n * m <= dense_max
    if not dense:
        ensure_online_mode()
        batch_size = backend_block(1024, 4096) if batch_size is None else int(batch_size)
    # dense: costs computed in the work dtype, stored in the solver dtype (float32: rounding
    # ~1e-7 C, far below eps). Online: costs are recomputed in the solver dtype by a GEMM,
    # whose float32 cancellation error (~1e-7 |x|^2 / d, 2e-5 at d = 0.01) would rival small
    # eps, so the online path iterates in the work dtype unless told otherwise.
    dtype = jnp.dtype(dtype if dtype is not None else (jnp.float32 if dense else wd))
    cost = _dense_cost(x, y).astype(dtype) if dense else None
    points = (None, None) if dense else (x.astype(dtype), y.astype(dtype))
    block = max(1, min(backend_block(256, 4096) if block is None else block, n, m))
    return _Problem(x, y, *points, cost, dtype, batch_size, block, stage_iterations)


def _run(p: _Problem, state: _State, eps, init, thr, polish=False) -> tuple[_State, bool]:
    """One call of ``stage_iterations``; with ``polish``, ``_INNER`` plain iterations.

    Over-relaxed iterates overshoot the marginals, so bounds are taken after a few plain
    iterations (a huge threshold stops the call at its first check). A non-finite result is
    redone from the same start without momentum, which then stays off.
    """
    mom = state.momentum and not polish
    args = (p.xs, p.ys, p.cost, state.f, state.g) + tuple(
        jnp.asarray(v, p.dtype) for v in (eps, init, jnp.inf if polish else thr)
    )
    static = dict(iters=p.stage_iterations, batch_size=p.batch_size, dense=p.dense)
    f, g, it, conv = _sinkhorn_stage(*args, jnp.asarray(mom), **static)
    momentum = state.momentum
    if mom and not bool(jnp.all(jnp.isfinite(f)) & jnp.all(jnp.isfinite(g))):
        momentum = False
        f, g, it, conv = _sinkhorn_stage(*args, jnp.asarray(False), **static)
    return _State(f, g, state.iters + int(it), momentum), bool(conv) and not polish


def _anneal(p: _Problem, state: _State, goal, diam, threshold, max_iterations):
    """Halves eps (warm-started) until the next halving would pass the goal."""
    eps, init = max(0.05 * diam, goal(0.0)), 1.0
    while state.iters < max_iterations:
        state, _ = _run(p, state, eps, init, threshold)
        nxt = max(eps / 2, goal(p.lower_bound(state.g)))
        if nxt >= eps:
            break
        eps, init = nxt, eps / nxt
    return state, eps, init


def _certify(p: _Problem, state: _State, eps, init, *, rtol, atol, fixed, min_threshold,
             max_iterations, max_refinements):  # fmt: skip
    """Iterates at eps, bracketing W1 after every call, until the bracket certifies.

    At fixed eps, iterating shrinks the rounding slack (upper - value) but not the entropic
    bias (value - lower ~ eps); when the bias alone nearly fills the tolerance, eps is halved.
    """
    refinements, conv = 0, False
    while True:
        if state.iters < max_iterations:
            state, conv = _run(p, state, eps, init, min_threshold)
            if not conv:
                state, conv = _run(p, state, eps, 1.0, min_threshold, polish=True)
        init = 1.0
        bounds = _bounds(p.x, p.y, state.f, state.g, jnp.asarray(eps, p.x.dtype), p.block)
        primal, lower, upper, merr = (float(v) for v in bounds)
        tol = rtol * max(lower, 0.0) + atol
        certified = upper - lower <= tol
        if certified or state.iters >= max_iterations:
            break
        if primal - lower > 0.75 * tol and not fixed and refinements < max_refinements:
            refinements += 1
            eps, init = eps / 2, 2.0
        elif conv:  # converged to min_threshold and still uncertified: nothing left to do
            break
    value = min(max(primal, lower), upper)
    return _estimate(value, lower, upper, certified, state.iters, eps, merr)


def sinkhorn(
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
) -> W1Estimate:
    r"""Certified Sinkhorn W1 between the uniform measures on ``x`` and ``y``.

    Options (see the module docstring for the algorithm; :func:`idm.w1.w1_result` documents
    each one): ``rtol``, ``atol``, ``epsilon``, ``threshold``, ``min_threshold``,
    ``max_iterations``, ``stage_iterations``, ``max_refinements``, ``batch_size``,
    ``dense_max``, ``dtype``, ``momentum``, ``block``.

    Returns:
        A :class:`~idm.w1.W1Estimate` whose ``[lower, upper]`` holds whether or not it
        converged (``lower_by="dual"``, ``upper_by="rounded plan"``, ``error`` half its
        width), with ``diagnostics`` ``n_iters`` (over all stages), ``epsilon`` (the final
        absolute one) and ``marginal_error`` (:math:`|P1 - a|_1 + |P^\top 1 - b|_1` of the
        plan).
    """
    wd = work_dtype()
    x = jnp.asarray(x, wd)
    y = jnp.asarray(y, wd)
    check_clouds(x, y)
    x, y, diam = _center(x, y)
    diam = float(diam)
    if diam == 0.0:  # every point at the same place
        return _estimate(0.0, 0.0, 0.0, True, 0, 0.0, 0.0)
    atol = 1e-5 * diam if atol is None else float(atol)
    p = _problem(x, y, batch_size=batch_size, dense_max=dense_max, dtype=dtype,
                 block=block, stage_iterations=stage_iterations)  # fmt: skip

    def goal(lower):  # the epsilon the bracket needs: rtol lower (or atol, or the caller's)
        if epsilon is not None:
            return float(epsilon)
        return max(rtol * max(lower, 0.0), atol)

    zeros = (jnp.zeros(x.shape[0], p.dtype), jnp.zeros(y.shape[0], p.dtype))
    state, eps, init = _anneal(p, _State(*zeros, 0, momentum), goal, diam, threshold,
                               max_iterations)  # fmt: skip
    return _certify(p, state, eps, init, rtol=rtol, atol=atol, fixed=epsilon is not None,
                    min_threshold=min_threshold, max_iterations=max_iterations,
                    max_refinements=max_refinements)  # fmt: skip
