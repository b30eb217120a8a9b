r"""Data-driven choice of the IDM bandwidth constant ``c`` (``c="auto"``).

The IDM bandwidth is :math:`\sigma = c\, n^{-1/(d+4)}` (:func:`idm.schedule.bandwidth`); the rate
fixes the exponent, not the constant, and the constant is the lever at reachable ``n``.
:func:`select_c` picks ``c`` by held-out validation:

1. Split the data by a key-derived permutation into a training part (``n_train`` points) and a
   validation part (``n_val = round(val_fraction * n)``).
2. For a given :math:`\log c`, draw ``num_samples`` IDM samples from the training part with
   :math:`\sigma = c\, n_\mathrm{train}^{-1/(d+4)}` (the exact sampler: ``Z = alpha x_I +
   sqrt(v) xi``, then the Tweedie posterior mean). The draw is reparameterised, so the samples
   are a differentiable function of :math:`\log c` for a fixed key.
3. Criterion: the debiased Sinkhorn divergence (ott-jax,
   :func:`ott.tools.sinkhorn_divergence.sinkhorn_divergence`)

   .. math::

       S_\varepsilon(\mu, \nu) = \mathrm{OT}_\varepsilon(\mu, \nu)
           - \tfrac12 \mathrm{OT}_\varepsilon(\mu, \mu) - \tfrac12 \mathrm{OT}_\varepsilon(\nu, \nu)

   between the samples :math:`\mu` and the validation points :math:`\nu`. Its gradient with
   respect to the points is the envelope (Danskin) gradient of the three entropic problems,
   so ``jax.grad`` with respect to :math:`\log c` flows through Sinkhorn's potentials and the
   sampler without unrolling.
4. Evaluate the criterion on a grid of ``c`` (the reported *curve*), start Adam (optax) on
   :math:`\log c` from the grid's best point, and return the best ``c`` seen over the grid and
   the trajectory. The result is therefore never worse on the criterion than any grid point
   (the grid contains ``c_init``, by default ``c = 1``).

Common random numbers: one key fixes the sampler's indices and noise for every evaluation,
so the curve is smooth in ``c`` and the gradient steps see one deterministic objective.

Cost (``cost=``):

* ``"euclidean"`` (default): :math:`C_{ij} = \sqrt{|x_i - y_j|^2 + \delta^2} - \delta`, a
  smoothed Euclidean distance (``delta`` small; it only makes the gradient finite on the zero
  diagonal of the self terms). The divergence then approaches W1, the quantity the bandwidth
  is judged by, as :math:`\varepsilon \to 0`. The matrices are built from one GEMM of
  centred points (``|x|^2 + |y|^2 - 2 x.y``) and handed to ott as dense
  :class:`~ott.geometry.geometry.Geometry` objects: ott's own ``costs.Euclidean`` point cloud
  would materialise an ``m x m x D`` difference tensor.
* ``"sqeuclidean"``: ott's ``PointCloud`` with its default squared Euclidean cost (GEMM form,
  also lean), an entropic W2^2. Smooth everywhere, but it weighs the radial shrinkage of
  IDM (a small displacement, order ``sigma^2``) quadratically, so it tends to prefer larger
  ``c`` than W1 does.

``epsilon`` is absolute when given; by default it is ``eps_scale = 0.02`` times the typical
cost between validation points (their root-mean-square distance for ``"euclidean"``, their
mean squared distance for ``"sqeuclidean"``). ott's own default rule, 0.05 times the mean
cost, is too coarse to see the radial bias of IDM.

Everything here is pure JAX plus optax; no file I/O.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax

from idm import memorization, schedule
from idm._geometry import sq_dists
from idm._search import golden_section
from idm.memorization import copy_fraction
from idm.samplers import sample
from idm.w1.exact import exact as exact_w1

__all__ = [
    "BandwidthResult",
    "COSTS",
    "DEFAULT_GRID",
    "MIN_POINTS",
    "split",
    "criterion",
    "criterion_and_grad",
    "default_epsilon",
    "length_scale",
    "select_c",
    "w1_criterion",
]

COSTS = ("euclidean", "sqeuclidean")
#: Default grid of ``c`` for the curve (contains 1, the default constant).
DEFAULT_GRID = tuple(float(c) for c in np.geomspace(1 / 16, 4.0, 9))
_DELTA = 1e-3  # smoothing length of the Euclidean cost


@dataclasses.dataclass(frozen=True)
class BandwidthResult:
    """The selected bandwidth constant and the evidence for it.

    Attributes:
        c: selected constant.
        sigma: the bandwidth ``c * scale * n_train^(-1/(d+4))`` it gives on the training split.
            To use it with all ``n`` points, take ``idm.schedule.bandwidth(n, d, c, scale)``.
        criterion: held-out criterion at ``c`` (exact W1, or the Sinkhorn divergence).
        c_start: grid point the optimiser started from.
        log_c_path: ``log c`` at each optimiser step (starting point first), shape
            ``(steps + 1,)``.
        criterion_path: criterion at each entry of ``log_c_path``.
        grid_c: the grid of ``c``.
        grid_criterion: criterion on the grid (the curve).
        n_train: training split size.
        n_val: validation split size.
        epsilon: the absolute entropic regularisation used.
        cost: ``"euclidean"`` or ``"sqeuclidean"``.
        converged: every Sinkhorn solve at the selected ``c`` converged and the optimiser
            settled (``|log c|`` moved less than ``tol`` over the last quarter of the steps, or
            the selected point is a grid point that the steps did not improve on).
        sinkhorn_converged: the three Sinkhorn solves at the selected ``c`` converged.
        c_min: the memorization guard's lower limit on ``c`` (0 when disabled).
        grid_copy_fraction: copy fraction of the samples at each grid ``c``.
        scale: the data's length scale (:func:`length_scale`) in ``sigma = c * scale *
            n^(-1/(d+4))``.
        criterion_name: ``"w1"`` or ``"sinkhorn"``.
        decided_by: ``"guard"`` (the smallest c whose samples copy at most
            ``max_copy_fraction``, found by bisection, was the best allowed point),
            ``"criterion"`` (an interior minimum of the criterion above the guard) or
            ``"grid"`` (the guard found no allowed c on the grid).
        c_guard: the guard's bisected boundary (``"w1"``; NaN otherwise).
        evaluated_c, evaluated_criterion, evaluated_copy_fraction: every c evaluated
            (grid, bisection, golden section) and what it gave (``"w1"``).
        duplicates: training rows the guard's copy rule merged into an earlier one
            (:func:`idm.memorization.distinct`; ``"w1"``).
    """

    c: float
    sigma: float
    criterion: float
    c_start: float
    log_c_path: np.ndarray
    criterion_path: np.ndarray
    grid_c: np.ndarray
    grid_criterion: np.ndarray
    n_train: int
    n_val: int
    epsilon: float
    cost: str
    converged: bool
    sinkhorn_converged: bool
    c_min: float = 0.0
    grid_copy_fraction: np.ndarray | None = None
    scale: float = 1.0
    criterion_name: str = "sinkhorn"
    decided_by: str = "criterion"
    c_guard: float = math.nan
    evaluated_c: np.ndarray | None = None
    evaluated_criterion: np.ndarray | None = None
    evaluated_copy_fraction: np.ndarray | None = None
    duplicates: int = 0


def split(key, data, val_fraction=0.2):
    """Splits ``data`` into ``(train, val)`` by a random permutation drawn from ``key``.

    Args:
        key: PRNG key.
        data: ``(n, D)`` array.
        val_fraction: fraction of points held out, in ``(0, 1)``.

    Returns:
        ``(train, val)`` with ``n_val = round(val_fraction * n)`` (at least 2) and
        ``n_train = n - n_val`` (at least 2).
    """
    data = jnp.asarray(data)
    if data.ndim != 2:
        raise ValueError(f"data must have shape (n, D), got {data.shape}")
    if not 0.0 < float(val_fraction) < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    n = data.shape[0]
    n_val = max(2, int(round(float(val_fraction) * n)))
    if n - n_val < 2:
        raise ValueError(f"need at least 2 training and 2 validation points, got n={n}")
    perm = jax.random.permutation(key, n)
    return data[perm[n_val:]], data[perm[:n_val]]


def _euclidean_cost(x, y):
    """Smoothed Euclidean cost ``sqrt(|x - y|^2 + delta^2) - delta`` by one GEMM."""
    delta = jnp.asarray(_DELTA, x.dtype)
    return jnp.sqrt(sq_dists(x, y) + delta**2) - delta


def _divergence(x, y, epsilon, cost, threshold, max_iterations):
    """Debiased Sinkhorn divergence between uniform clouds ``x``, ``y`` and its convergence."""
    from ott.geometry import geometry, pointcloud
    from ott.tools import sinkhorn_divergence as sd

    mu = jax.lax.stop_gradient(jnp.mean(y, axis=0, keepdims=True))  # centring: exact GEMM distances
    x, y = x - mu, y - mu
    a = jnp.full(x.shape[0], 1.0 / x.shape[0], x.dtype)
    b = jnp.full(y.shape[0], 1.0 / y.shape[0], y.dtype)
    solve_kwargs = {"threshold": threshold, "max_iterations": max_iterations}
    with jax.numpy_rank_promotion("allow"):  # ott broadcasts implicitly inside
        if cost == "euclidean":
            mats = (_euclidean_cost(x, y), _euclidean_cost(x, x), _euclidean_cost(y, y))
            div, out = sd.sinkhorn_divergence(
                geometry.Geometry,
                cost_matrix=mats,
                epsilon=epsilon,
                a=a,
                b=b,
                solve_kwargs=solve_kwargs,
            )
        else:
            div, out = sd.sinkhorn_divergence(
                pointcloud.PointCloud, x, y, epsilon=epsilon, a=a, b=b, solve_kwargs=solve_kwargs
            )
    converged = jnp.all(jnp.stack([jnp.asarray(c) for c in out.converged]))
    return div, converged


def _objective(log_c, key, train, val, epsilon, base, *, num_samples, cost, threshold, max_iter):
    sigma = jnp.exp(log_c) * base  # base = sigma at c = 1, traced: d needs no recompile
    z = sample(key, train, num_samples, method="idm", sigma=sigma, solver="exact", shard=False)
    return _divergence(z, val, epsilon, cost, threshold, max_iter)


_STATIC = ("num_samples", "cost", "threshold", "max_iter")
_value = jax.jit(_objective, static_argnames=_STATIC)
_value_and_grad = jax.jit(jax.value_and_grad(_objective, has_aux=True), static_argnames=_STATIC)


#: The fewest points :func:`select_c` splits into a training and a validation part.
MIN_POINTS = 4


def _check(data, d, num_samples, cost):
    if data.ndim != 2 or data.shape[0] < MIN_POINTS:
        raise ValueError(f"data must have shape (n, D) with n >= {MIN_POINTS}, got {data.shape}")
    if not jnp.issubdtype(data.dtype, jnp.floating):
        raise ValueError(f"data must be floating point, got {data.dtype}")
    if not bool(jnp.all(jnp.isfinite(data))):
        raise ValueError("data contains non-finite values")
    if d is None or int(d) != d or int(d) < 1:
        raise ValueError(f"the intrinsic dimension d must be an integer >= 1, got {d}")
    if int(num_samples) < 2:
        raise ValueError(f"num_samples must be >= 2, got {num_samples}")
    if cost not in COSTS:
        raise ValueError(f"cost must be one of {COSTS}, got {cost!r}")


def default_epsilon(val, cost="euclidean", eps_scale=0.02):
    """``eps_scale`` times the typical cost between validation points (a Python float).

    The typical cost is the root-mean-square distance ``sqrt(E|y - y'|^2)`` for
    ``"euclidean"`` and the mean squared distance for ``"sqeuclidean"``.
    """
    val = jnp.asarray(val)
    c = val - jnp.mean(val, axis=0, keepdims=True)
    mean_sq = 2.0 * float(jnp.mean(jnp.sum(c * c, axis=1)))  # E|y - y'|^2
    scale = mean_sq if cost == "sqeuclidean" else math.sqrt(mean_sq)
    return eps_scale * scale


def _arguments(key, train, val, d, num_samples, epsilon, cost):
    """The traced arguments (after ``log c``) and the static ones of the jitted criterion."""
    train, val = jnp.asarray(train), jnp.asarray(val)
    _check(train, d, num_samples, cost)
    eps = default_epsilon(val, cost) if epsilon is None else float(epsilon)
    dt = train.dtype
    base = jnp.asarray(schedule.bandwidth(train.shape[0], int(d)), dt)  # sigma at c = 1
    args = (key, train, val.astype(dt), jnp.asarray(eps, dt), base)
    return args, {"num_samples": int(num_samples), "cost": cost}


def criterion(
    key,
    train,
    val,
    c,
    d,
    *,
    num_samples=1024,
    epsilon=None,
    cost="euclidean",
    threshold=1e-4,
    max_iterations=3000,
):
    """Held-out debiased Sinkhorn divergence between IDM samples (from ``train``) and ``val``.

    Args:
        key: PRNG key of the IDM draw (fix it for common random numbers).
        train: ``(n_train, D)`` training points.
        val: ``(n_val, D)`` validation points.
        c: bandwidth constant, ``sigma = c * n_train^(-1/(d+4))``.
        d: intrinsic dimension.
        num_samples: IDM samples drawn.
        epsilon: absolute entropic regularisation (default :func:`default_epsilon`).
        cost: ``"euclidean"`` or ``"sqeuclidean"``.
        threshold: Sinkhorn marginal-error threshold.
        max_iterations: Sinkhorn iteration cap.

    Returns:
        ``(value, converged)``: the divergence (scalar array) and whether all three Sinkhorn
        solves converged (bool array).
    """
    if not float(c) > 0:
        raise ValueError(f"c must be > 0, got {c}")
    args, static = _arguments(key, train, val, d, num_samples, epsilon, cost)
    log_c = jnp.log(jnp.asarray(c, args[1].dtype))
    return _value(log_c, *args, **static, threshold=float(threshold), max_iter=int(max_iterations))


def criterion_and_grad(
    key,
    train,
    val,
    log_c,
    d,
    *,
    num_samples=1024,
    epsilon=None,
    cost="euclidean",
    threshold=1e-4,
    max_iterations=3000,
):
    """The criterion at ``c = exp(log_c)`` and its derivative with respect to ``log c``.

    Same arguments as :func:`criterion`, with ``log_c`` in place of ``c``.

    Returns:
        ``(value, converged, grad)``.
    """
    args, static = _arguments(key, train, val, d, num_samples, epsilon, cost)
    log_c = jnp.asarray(log_c, args[1].dtype)
    (value, ok), grad = _value_and_grad(
        log_c, *args, **static, threshold=float(threshold), max_iter=int(max_iterations)
    )
    return value, ok, grad


def _select_sinkhorn(
    key,
    data,
    d,
    *,
    scale=1.0,
    val_fraction=0.2,
    num_samples=1024,
    epsilon=None,
    eps_scale=0.02,
    cost="euclidean",
    steps=10,
    learning_rate=0.1,
    grid_c,
    tol=0.02,
    threshold=1e-4,
    max_iterations=3000,
    max_copy_fraction=0.01,
) -> BandwidthResult:
    """The ``criterion="sinkhorn"`` path of :func:`select_c` (see there).

    :func:`select_c` has checked the data and built ``grid_c`` (the grid with ``c_init``).
    """
    if int(steps) < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    if not learning_rate > 0:
        raise ValueError(f"learning_rate must be > 0, got {learning_rate}")
    train, val = split(jax.random.fold_in(key, 0), data, val_fraction)
    k_sample = jax.random.fold_in(key, 1)
    eps = default_epsilon(val, cost, eps_scale) if epsilon is None else float(epsilon)
    if not eps > 0:
        raise ValueError(f"epsilon must be > 0, got {eps}")
    kw = dict(num_samples=num_samples, epsilon=eps, cost=cost, threshold=threshold)
    kw["max_iterations"] = max_iterations

    grid_vals, grid_ok = [], []
    for c in grid_c:
        v, ok = criterion(k_sample, train, val, float(c) * scale, d, **kw)
        grid_vals.append(float(v))
        grid_ok.append(bool(ok))
    grid_vals = np.asarray(grid_vals)
    if not np.any(np.isfinite(grid_vals)):
        raise FloatingPointError("the criterion is not finite at any grid point")
    base = schedule.bandwidth(train.shape[0], int(d), 1.0, scale)
    grid_copies = np.asarray(
        [
            copy_fraction(
                sample(k_sample, train, num_samples, method="idm", sigma=c * base, solver="exact"),
                train,
            )
            for c in grid_c
        ]
    )
    c_min = 0.0
    if max_copy_fraction is not None:
        c_min = float(grid_c[_guard_index(grid_copies <= max_copy_fraction)])
    allowed = grid_c >= c_min
    i0 = int(np.nanargmin(np.where(allowed, grid_vals, np.nan)))
    c_start = float(grid_c[i0])

    opt = optax.adam(learning_rate)
    log_c = jnp.asarray(math.log(c_start), data.dtype)
    state = opt.init(log_c)
    path, values, oks = [float(log_c)], [], []
    for _ in range(int(steps)):
        v, ok, g = criterion_and_grad(k_sample, train, val, log_c + math.log(scale), d, **kw)
        values.append(float(v))
        oks.append(bool(ok))
        if not bool(jnp.isfinite(g)):
            break
        updates, state = opt.update(g, state, log_c)
        log_c = jnp.maximum(optax.apply_updates(log_c, updates), math.log(max(c_min, 1e-300)))
        path.append(float(log_c))
    if len(path) > len(values):  # value at the last iterate
        v, ok = criterion(k_sample, train, val, math.exp(path[-1]) * scale, d, **kw)
        values.append(float(v))
        oks.append(bool(ok))

    # best over grid and trajectory (the result cannot lose to the grid on the criterion)
    cand_c = np.concatenate([grid_c, np.exp(np.asarray(path))])
    cand_v = np.concatenate([grid_vals, np.asarray(values)])
    cand_ok = grid_ok + oks
    cand_v = np.where(np.isfinite(cand_v) & (cand_c >= c_min * (1 - 1e-12)), cand_v, np.inf)
    best = int(np.argmin(cand_v))
    c_best = float(cand_c[best])
    tail = np.asarray(path[-max(2, len(path) // 4) :])
    settled = len(path) < 2 or float(np.ptp(tail)) < tol or best < len(grid_c)
    n_train = int(train.shape[0])
    return BandwidthResult(
        c=c_best,
        sigma=schedule.bandwidth(n_train, int(d), c_best, scale),
        criterion=float(cand_v[best]),
        c_start=c_start,
        log_c_path=np.asarray(path),
        criterion_path=np.asarray(values),
        grid_c=grid_c,
        grid_criterion=grid_vals,
        n_train=n_train,
        n_val=int(val.shape[0]),
        epsilon=float(eps),
        cost=cost,
        converged=bool(settled and cand_ok[best]),
        sinkhorn_converged=bool(cand_ok[best]),
        c_min=c_min,
        grid_copy_fraction=grid_copies,
        scale=float(scale),
        criterion_name="sinkhorn",
        decided_by="guard" if c_best == c_min and c_min > 0 else "criterion",
    )


length_scale = schedule.length_scale


def w1_criterion(key, train, val, c, d, *, scale=1.0, num_samples=1024) -> tuple[float, float]:
    """Held-out exact W1 between IDM samples from ``train`` and ``val``, and their copy fraction.

    The samples (the exact sampler at ``sigma = c * scale * n_train^(-1/(d+4))``, one key for
    every c: common random numbers) are compared with the validation points by exact OT
    (:func:`idm.w1.exact.exact`) and with the training points by the copy rule
    (:func:`idm.memorization.copy_fraction`).

    Returns:
        ``(w1, copy_fraction)``.
    """
    train = jnp.asarray(train)
    sigma = schedule.bandwidth(train.shape[0], int(d), float(c), float(scale))
    x = sample(key, train, int(num_samples), method="idm", sigma=sigma, solver="exact")
    return float(exact_w1(np.asarray(x), np.asarray(val)).value), copy_fraction(x, train)


def _select_w1(
    key,
    data,
    d,
    *,
    val_fraction,
    num_samples,
    grid_c,
    max_copy_fraction,
    guard_steps,
    guard_margin,
    guard_samples,
    steps,
) -> BandwidthResult:
    """The ``criterion="w1"`` path of :func:`select_c` (see there), on data at unit scale."""
    train, val = split(jax.random.fold_in(key, 0), data, val_fraction)
    k_sample, k_guard = jax.random.fold_in(key, 1), jax.random.fold_in(key, 2)
    seen: dict[float, tuple[float, float]] = {}
    training = memorization.TrainingIndex(data)  # the copy rule's distinct points, once

    def copies_of_all(c):
        """The guard asks the sampler that will be used: all n points, sigma at n."""
        sigma = schedule.bandwidth(data.shape[0], int(d), float(c))
        x = sample(k_guard, data, int(guard_samples), method="idm", sigma=sigma, solver="exact")
        return copy_fraction(x, training)

    def evaluate(c):
        c = float(c)
        if c not in seen:
            value, _ = w1_criterion(k_sample, train, val, c, d, num_samples=num_samples)
            seen[c] = (value, copies_of_all(c))
        return seen[c]

    grid_w1 = np.array([evaluate(c)[0] for c in grid_c])
    grid_copies = np.array([evaluate(c)[1] for c in grid_c])

    def feasible(c):
        return max_copy_fraction is None or evaluate(c)[1] <= guard_margin * max_copy_fraction

    # the guard: the smallest c that copies at most max_copy_fraction (copying falls with c),
    # bisected in log c between the grid's last infeasible point and the next feasible one
    ok = np.array([feasible(c) for c in grid_c])
    decided = "criterion"
    if max_copy_fraction is None or ok.all():
        c_guard = float(grid_c[0])
    elif not ok.any():
        c_guard, decided = float(grid_c[-1]), "grid"
    else:
        i = _guard_index(ok)
        hi = float(grid_c[i])
        lo = float(grid_c[i - 1]) if i > 0 else hi / 2
        for _ in range(int(guard_steps)):
            mid = math.sqrt(lo * hi)
            if feasible(mid):
                hi = mid
            else:
                lo = mid
        c_guard = hi

    # the criterion above the guard: the best evaluated point, refined by golden section in
    # log c between its neighbours (clipped at the guard)
    def allowed():
        return [c for c in seen if c >= c_guard * (1 - 1e-12) and feasible(c)]

    best = min(allowed(), key=lambda c: evaluate(c)[0])
    higher = [c for c in grid_c if c > best]
    lower = [c for c in grid_c if c < best]
    golden_section(
        lambda log_c: evaluate(math.exp(log_c))[0],
        math.log(max(max(lower, default=best / 2), c_guard)),
        math.log(min(higher, default=best * 2)),
        steps,
    )  # every point it evaluates enters ``seen``
    best = min(allowed(), key=lambda c: evaluate(c)[0])
    if decided != "grid" and max_copy_fraction is not None and best == c_guard:
        decided = "guard"
    cs = np.array(sorted(seen))
    n_train = int(train.shape[0])
    return BandwidthResult(
        c=best,
        sigma=schedule.bandwidth(n_train, int(d), best),
        criterion=evaluate(best)[0],
        c_start=float(grid_c[int(np.argmin(np.where(grid_c >= c_guard, grid_w1, np.inf)))]),
        log_c_path=np.log(cs),
        criterion_path=np.array([seen[c][0] for c in cs]),
        grid_c=grid_c,
        grid_criterion=grid_w1,
        n_train=n_train,
        n_val=int(val.shape[0]),
        epsilon=0.0,
        cost="euclidean",
        converged=True,
        sinkhorn_converged=True,
        c_min=c_guard if max_copy_fraction is not None else 0.0,
        grid_copy_fraction=grid_copies,
        criterion_name="w1",
        decided_by=decided,
        c_guard=c_guard,
        evaluated_c=cs,
        evaluated_criterion=np.array([seen[c][0] for c in cs]),
        evaluated_copy_fraction=np.array([seen[c][1] for c in cs]),
        duplicates=training.duplicates,
    )


def select_c(
    key,
    data,
    d,
    *,
    criterion: str = "w1",
    scale="data",
    val_fraction=0.2,
    num_samples=1024,
    grid=None,
    c_init=1.0,
    max_copy_fraction=0.01,
    guard_steps=8,
    guard_margin=0.6,
    guard_samples=4096,
    steps=None,
    **sinkhorn_kwargs,
) -> BandwidthResult:
    """Chooses the IDM bandwidth constant ``c`` on a held-out split, guarded against copying.

    ``sigma = c * scale * n^(-1/(d+4))``, ``scale`` the data's length scale
    (:func:`length_scale`; 1 for a unit sphere). Two criteria:

    * ``"w1"`` (default): held-out exact W1 (:func:`w1_criterion`, samples from the training
      part against the validation part) on a grid of c; the memorization guard's boundary,
      the smallest c at which the sampler that will be used (all n points, sigma at n) copies
      at most ``guard_margin * max_copy_fraction``, found by ``guard_steps`` bisections in
      log c (copying falls as c grows); then ``steps`` golden-section steps around the best
      allowed point. A
      held-out criterion cannot see copying (training points are as close to the validation
      split as the population is), so on real data the best allowed point is often the
      guard's boundary: ``decided_by`` says whether the guard or the criterion decided.
    * ``"sinkhorn"``: the held-out debiased Sinkhorn divergence with Adam steps on log c from
      the best grid point at or above the smallest grid c that copies at most
      ``max_copy_fraction`` (the earlier rule; keyword arguments of the Sinkhorn criterion:
      ``epsilon``, ``eps_scale``, ``cost``, ``learning_rate``, ``tol``, ``threshold``,
      ``max_iterations``).

    Args:
        key: PRNG key; ``fold_in(key, 0)`` draws the split, ``fold_in(key, 1)`` the IDM samples
            (the same for every evaluation: common random numbers).
        data: ``(n, D)`` points.
        d: intrinsic dimension.
        criterion: ``"w1"`` or ``"sinkhorn"``.
        scale: ``"data"`` (:func:`length_scale` of ``data``) or a positive number (1: the
            unit-sphere rule).
        val_fraction: held-out fraction.
        num_samples: IDM samples per evaluation.
        grid: values of c for the curve (default ``DEFAULT_GRID``).
        c_init: included in the grid.
        max_copy_fraction: the memorization guard (None disables it).
        guard_steps: bisection steps on the guard's boundary (``"w1"``).
        guard_margin: the ``"w1"`` guard's target is ``guard_margin * max_copy_fraction``, so
            that fresh samples (another key) still copy at most ``max_copy_fraction``: the copy
            fraction of 1000 samples has a standard error of about 0.3% at 1%.
        guard_samples: samples of the guard's copy fraction (``"w1"``; its standard error at
            0.5% is 0.1% with 4096).
        steps: golden-section steps (``"w1"``, default 6) or Adam steps (``"sinkhorn"``,
            default 10).
        **sinkhorn_kwargs: options of the ``"sinkhorn"`` criterion.

    Returns:
        A :class:`BandwidthResult`.
    """
    data = jnp.asarray(data)
    _check(data, d, num_samples, sinkhorn_kwargs.get("cost", "euclidean"))
    if criterion not in ("w1", "sinkhorn"):
        raise ValueError(f"criterion must be 'w1' or 'sinkhorn', got {criterion!r}")
    scale = length_scale(data) if isinstance(scale, str) and scale == "data" else float(scale)
    if not (math.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be 'data' or a positive number, got {scale}")
    grid = DEFAULT_GRID if grid is None else tuple(grid)
    grid_c = np.unique(np.asarray(list(grid) + [c_init], np.float64))
    if grid_c.size == 0 or not np.all(grid_c > 0) or not np.all(np.isfinite(grid_c)):
        raise ValueError(f"grid and c_init must be positive and finite, got {grid_c}")
    if criterion == "sinkhorn":
        return _select_sinkhorn(
            key, data, d, scale=scale, val_fraction=val_fraction, num_samples=num_samples,
            grid_c=grid_c, max_copy_fraction=max_copy_fraction,
            steps=10 if steps is None else steps, **sinkhorn_kwargs,
        )  # fmt: skip
    if sinkhorn_kwargs:
        raise ValueError(f"options {sorted(sinkhorn_kwargs)} apply to criterion='sinkhorn' only")
    steps = 6 if steps is None else int(steps)
    if not 0 < guard_margin <= 1:
        raise ValueError(f"guard_margin must be in (0, 1], got {guard_margin}")
    if steps < 0 or int(guard_steps) < 0:
        raise ValueError(f"steps and guard_steps must be >= 0, got {steps}, {guard_steps}")
    # the selection runs at unit scale, on the coordinates (x - mean) / scale that idm.sample
    # uses for this scale: the forward process is not scale-free, so a cloud of size 1e3
    # sampled in its own units would not select the c it selects at size 1
    unit, _ = schedule.to_unit_scale(data, scale)
    res = _select_w1(
        key, unit, d, val_fraction=val_fraction, num_samples=num_samples,
        grid_c=grid_c, max_copy_fraction=max_copy_fraction,
        guard_steps=guard_steps, guard_margin=guard_margin,
        guard_samples=guard_samples, steps=steps,
    )  # fmt: skip
    return dataclasses.replace(
        res,
        sigma=res.sigma * scale,
        criterion=res.criterion * scale,
        grid_criterion=res.grid_criterion * scale,
        criterion_path=res.criterion_path * scale,
        evaluated_criterion=res.evaluated_criterion * scale,
        scale=scale,
    )


def _guard_index(feasible: np.ndarray) -> int:
    """Index of the guard's c_min on an increasing grid, given which points copy little.

    The start of the run of feasible points that reaches the largest c (copying falls with c);
    if the largest c itself copies, the largest feasible c; if none is feasible, the largest c.
    """
    if not feasible.any():
        return feasible.size - 1
    if not feasible[-1]:
        return int(np.flatnonzero(feasible)[-1])
    infeasible = np.flatnonzero(~feasible)
    return 0 if infeasible.size == 0 else int(infeasible[-1]) + 1


def summary(res: BandwidthResult) -> dict:
    """A JSON-ready digest of a :class:`BandwidthResult` (the curve included)."""
    return {
        "c": res.c,
        "criterion": res.criterion,
        "c_min": res.c_min,
        "converged": res.converged,
        "epsilon": res.epsilon,
        "cost": res.cost,
        "n_train": res.n_train,
        "n_val": res.n_val,
        "grid_c": res.grid_c.tolist(),
        "grid_criterion": res.grid_criterion.tolist(),
        "grid_copy_fraction": res.grid_copy_fraction.tolist(),
        "c_path": np.exp(res.log_c_path).tolist(),
        "scale": res.scale,
        "criterion_name": res.criterion_name,
        "decided_by": res.decided_by,
        "c_guard": res.c_guard,
        "copy_rule": memorization.RULE,
        "duplicates": res.duplicates,
    }
