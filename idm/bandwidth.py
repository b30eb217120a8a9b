r"""Data-driven choice of the IDM bandwidth constant ``c`` (``c="auto"``).

The IDM bandwidth is :math:`\sigma = c\,\mathrm{scale}\; n^{-1/(d+4)}`
(:func:`idm.schedule.bandwidth`); the rate fixes the exponent, not the constant, and the
constant is the lever at reachable ``n``. :func:`select_c` picks ``c`` by held-out exact W1
under a memorization guard:

1. **Unit scale.** The selection runs on ``(x - mean) / scale``, the coordinates
   :func:`idm.sample` uses at this scale (the forward process is not scale-free: a cloud of
   size 10^3 sampled in its own units would not select the ``c`` it selects at size 1).
2. **Split.** A permutation drawn from ``fold_in(key, 0)`` holds out ``n_val =
   round(val_fraction * n)`` points (:func:`split`).
3. **Criterion** (:func:`w1_criterion`). ``num_samples`` IDM samples (exact sampler, Tweedie
   inertia) from the training part at :math:`\sigma = c\, n_\mathrm{train}^{-1/(d+4)}`, drawn
   with ``fold_in(key, 1)`` for every ``c`` (common random numbers: the curve is smooth in
   ``c``), against the validation part by exact OT (:func:`idm.w1.exact.exact`).
4. **Guard.** A held-out criterion cannot see copying (the training points are as close to the
   validation part as the population is), so ``c`` may not go below the smallest value at which
   the sampler that will be used (all ``n`` points, sigma at ``n``; ``guard_samples`` draws
   from ``fold_in(key, 2)``) copies at most ``guard_margin * max_copy_fraction``
   (:func:`idm.memorization.copy_fraction`). It is found on the grid, then by ``guard_steps``
   bisections in ``log c`` between the last grid point that copies too much and the next one
   (copying falls as ``c`` grows).
5. **Search.** ``steps`` golden-section steps in ``log c`` between the grid neighbours of the
   best allowed point (the lower end clipped at the guard), one new evaluation each after the
   first two (:func:`idm._search.golden_section`).
6. **Choice.** The allowed evaluated point of smallest criterion; the record's ``decided_by``
   says whether it is the guard's boundary, an interior point, or (when no grid point passes
   the guard) the largest grid ``c``.

Every evaluation computes both the criterion and the guard's copy fraction at one ``c``, and
each distinct ``c`` is evaluated once; :class:`BandwidthResult` records them in order.

The earlier rule (held-out debiased Sinkhorn divergence, Adam steps on ``log c``, the guard at
a grid step; ``criterion="sinkhorn"``) was removed: no committed result uses it. Its last
version is ``idm/bandwidth.py`` at commit f4bca76; the ``c = 0.5`` of ``experiment=high_dim``
was chosen with it (commit ade4fe9).

Pure JAX, NumPy and POT (through :mod:`idm.w1`); no file I/O.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np

from idm import memorization, schedule
from idm._search import golden_section
from idm.samplers import sample
from idm.w1.exact import exact as exact_w1

__all__ = [
    "BandwidthResult",
    "DEFAULT_GRID",
    "MIN_POINTS",
    "length_scale",
    "select_c",
    "split",
    "summary",
    "w1_criterion",
]

#: Default grid of ``c`` for the curve (``c_init = 1`` is added to it).
DEFAULT_GRID = tuple(float(c) for c in np.geomspace(1 / 16, 4.0, 9))
#: How each evaluated ``c`` entered the path.
STAGES = ("grid", "guard", "search")

length_scale = schedule.length_scale


@dataclasses.dataclass(frozen=True)
class BandwidthResult:
    """The selected bandwidth constant and every evaluation behind it.

    Criterion values are in the data's units (held-out W1 at unit scale times ``scale``).

    Attributes:
        c: the selected constant.
        sigma: its bandwidth for all ``n`` points, ``c * scale * n^(-1/(d+4))`` (what
            ``idm.sample(..., c=c, scale=scale)`` uses on the data).
        criterion: held-out W1 at ``c``.
        scale: the data's length scale in the rule.
        decided_by: ``"guard"`` (``c`` is the guard's boundary: the criterion would go lower),
            ``"criterion"`` (an evaluated point above the boundary had the smallest criterion)
            or ``"grid"`` (no grid point passed the guard; ``c`` is the largest grid value).
        c_guard: the smallest ``c`` the guard allows: its bisected boundary; the smallest grid
            value when every grid value passes; the largest when none does; NaN with the
            guard off (``max_copy_fraction=None``).
        path_c: every ``c`` evaluated, in evaluation order (grid ascending, then the guard's
            bisection, then the golden-section search).
        path_criterion: held-out W1 at each entry of ``path_c``.
        path_copy_fraction: the guard's copy fraction (all ``n`` points, ``guard_samples``
            draws) at each entry.
        path_stage: ``"grid"``, ``"guard"`` or ``"search"`` for each entry.
        n_train: training part of the split.
        n_val: validation part.
        duplicates: training rows the copy rule merged into an earlier one
            (:func:`idm.memorization.distinct`).
    """

    c: float
    sigma: float
    criterion: float
    scale: float
    decided_by: str
    c_guard: float
    path_c: np.ndarray
    path_criterion: np.ndarray
    path_copy_fraction: np.ndarray
    path_stage: tuple[str, ...]
    n_train: int
    n_val: int
    duplicates: int

    @property
    def evaluations(self) -> int:
        """Distinct values of ``c`` evaluated (each: one W1 and one guard draw)."""
        return len(self.path_c)

    def _stage(self, stage: str) -> np.ndarray:
        return np.asarray([s == stage for s in self.path_stage], bool)

    @property
    def grid_c(self) -> np.ndarray:
        """The grid (ascending)."""
        return self.path_c[self._stage("grid")]

    @property
    def grid_criterion(self) -> np.ndarray:
        """Held-out W1 on the grid (the curve)."""
        return self.path_criterion[self._stage("grid")]

    @property
    def grid_copy_fraction(self) -> np.ndarray:
        """The guard's copy fraction on the grid."""
        return self.path_copy_fraction[self._stage("grid")]


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


def w1_criterion(key, train, val, c, d, *, scale=1.0, num_samples=1024) -> float:
    """Held-out exact W1 between IDM samples from ``train`` and the points ``val``.

    The samples: the exact sampler at ``sigma = c * scale * n_train^(-1/(d+4))`` (pass the same
    key for every ``c``: common random numbers), compared with ``val`` by exact OT
    (:func:`idm.w1.exact.exact`).
    """
    train = jnp.asarray(train)
    sigma = schedule.bandwidth(train.shape[0], int(d), float(c), float(scale))
    x = sample(key, train, int(num_samples), method="idm", sigma=sigma, solver="exact")
    return float(exact_w1(np.asarray(x), np.asarray(val)).value)


class _Evaluations:
    """Criterion and guard at each distinct ``c`` (keyed on the float), in evaluation order."""

    def __init__(self, key, data, d, *, val_fraction, num_samples, guard_samples):
        self.train, self.val = split(jax.random.fold_in(key, 0), data, val_fraction)
        self.k_sample, self.k_guard = jax.random.fold_in(key, 1), jax.random.fold_in(key, 2)
        self.data, self.d = data, int(d)
        self.num_samples, self.guard_samples = int(num_samples), int(guard_samples)
        self.training = memorization.TrainingIndex(data)  # the copy rule's distinct points
        self.seen: dict[float, tuple[float, float, str]] = {}

    def __call__(self, c: float, stage: str) -> tuple[float, float]:
        """``(held-out W1, the guard's copy fraction)`` at ``c``."""
        c = float(c)
        if c not in self.seen:
            value = w1_criterion(
                self.k_sample, self.train, self.val, c, self.d, num_samples=self.num_samples
            )
            # the guard asks the sampler that will be used: all n points, sigma at n
            sigma = schedule.bandwidth(self.data.shape[0], self.d, c)
            x = sample(self.k_guard, self.data, self.guard_samples, method="idm", sigma=sigma,
                       solver="exact")  # fmt: skip
            self.seen[c] = (value, memorization.copy_fraction(x, self.training), stage)
        return self.seen[c][:2]


def _guard(evaluate, grid_c, passes, guard_steps) -> tuple[float, str]:
    """``(c_guard, decided_by)`` from the grid, bisected in ``log c`` (see :func:`select_c`)."""
    ok = np.array([passes(c) for c in grid_c])
    if ok.all():
        return float(grid_c[0]), "criterion"
    if not ok.any():
        return float(grid_c[-1]), "grid"
    i = _guard_index(ok)
    hi = float(grid_c[i])
    lo = float(grid_c[i - 1]) if i > 0 else hi / 2
    for _ in range(int(guard_steps)):
        mid = math.sqrt(lo * hi)
        evaluate(mid, "guard")
        if passes(mid):
            hi = mid
        else:
            lo = mid
    return hi, "criterion"


def _select(key, data, d, *, grid_c, max_copy_fraction, guard_margin, steps, guard_steps,
            **sizes) -> tuple[float, float, str, _Evaluations]:  # fmt: skip
    """``(c, c_guard, decided_by, evaluations)`` on data at unit scale (see :func:`select_c`)."""
    evaluate = _Evaluations(key, data, d, **sizes)
    for c in grid_c:
        evaluate(c, "grid")
    guarded = max_copy_fraction is not None

    def passes(c):
        return not guarded or evaluate(c, "guard")[1] <= guard_margin * max_copy_fraction

    c_guard, decided = _guard(evaluate, grid_c, passes, guard_steps)
    if decided == "grid":
        return float(grid_c[-1]), c_guard, decided, evaluate

    def best():
        allowed = [c for c in evaluate.seen if c >= c_guard * (1 - 1e-12) and passes(c)]
        return min(allowed, key=lambda c: evaluate.seen[c][0])

    # golden section in log c between the best point's grid neighbours, clipped at the guard
    c0 = best()
    lower = max(max((c for c in grid_c if c < c0), default=c0 / 2), c_guard)
    upper = min((c for c in grid_c if c > c0), default=c0 * 2)
    golden_section(
        lambda log_c: evaluate(math.exp(log_c), "search")[0], math.log(lower), math.log(upper),
        steps,
    )  # fmt: skip
    c = best()
    if guarded and c == c_guard:
        decided = "guard"
    return c, c_guard, decided, evaluate


def select_c(
    key,
    data,
    d,
    *,
    scale="data",
    val_fraction=0.2,
    num_samples=1024,
    grid=None,
    c_init=1.0,
    max_copy_fraction=0.01,
    guard_steps=8,
    guard_margin=0.6,
    guard_samples=4096,
    steps=6,
) -> BandwidthResult:
    """Chooses the IDM bandwidth constant ``c`` by held-out exact W1, guarded against copying.

    The rule is the module's (:mod:`idm.bandwidth`): the grid, the guard's boundary bisected,
    golden-section steps around the best allowed point, the best allowed point evaluated.

    Args:
        key: PRNG key; ``fold_in(key, 0)`` draws the split, ``fold_in(key, 1)`` the criterion's
            samples, ``fold_in(key, 2)`` the guard's (each the same for every ``c``).
        data: ``(n, D)`` points, ``n >= 4``.
        d: intrinsic dimension (an integer >= 1).
        scale: ``"data"`` (:func:`length_scale` of ``data``) or a positive number (1: the
            unit-sphere rule).
        val_fraction: held-out fraction.
        num_samples: IDM samples per criterion evaluation.
        grid: values of ``c`` for the curve (default ``DEFAULT_GRID``).
        c_init: added to the grid.
        max_copy_fraction: the copy budget of the guard (None turns the guard off).
        guard_steps: bisection steps on the guard's boundary.
        guard_margin: the guard's target is ``guard_margin * max_copy_fraction``, so that fresh
            samples (another key) still copy at most ``max_copy_fraction``: the copy fraction of
            1000 samples has a standard error of about 0.3% at 1%.
        guard_samples: draws of the guard's copy fraction (its standard error at 0.5% is 0.1%
            with 4096).
        steps: golden-section steps (``steps + 1`` evaluations; 0 skips the search).

    Returns:
        A :class:`BandwidthResult`.
    """
    data = jnp.asarray(data)
    _check(data, d, num_samples)
    scale = length_scale(data) if isinstance(scale, str) and scale == "data" else float(scale)
    if not (math.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be 'data' or a positive number, got {scale}")
    grid = DEFAULT_GRID if grid is None else tuple(grid)
    grid_c = np.unique(np.asarray(list(grid) + [c_init], np.float64))
    if not np.all(grid_c > 0) or not np.all(np.isfinite(grid_c)):
        raise ValueError(f"grid and c_init must be positive and finite, got {grid_c}")
    if not 0 < guard_margin <= 1:
        raise ValueError(f"guard_margin must be in (0, 1], got {guard_margin}")
    if int(steps) < 0 or int(guard_steps) < 0:
        raise ValueError(f"steps and guard_steps must be >= 0, got {steps}, {guard_steps}")
    unit, _ = schedule.to_unit_scale(data, scale)
    c, c_guard, decided, ev = _select(
        key, unit, d, grid_c=grid_c, max_copy_fraction=max_copy_fraction,
        guard_margin=guard_margin, steps=steps, guard_steps=guard_steps,
        val_fraction=val_fraction, num_samples=num_samples, guard_samples=guard_samples,
    )  # fmt: skip
    path = list(ev.seen.items())
    return BandwidthResult(
        c=c,
        sigma=schedule.bandwidth(data.shape[0], int(d), c, scale),
        criterion=ev.seen[c][0] * scale,
        scale=scale,
        decided_by=decided,
        c_guard=c_guard if max_copy_fraction is not None else math.nan,
        path_c=np.array([p[0] for p in path]),
        path_criterion=np.array([p[1][0] for p in path]) * scale,
        path_copy_fraction=np.array([p[1][1] for p in path]),
        path_stage=tuple(p[1][2] for p in path),
        n_train=int(ev.train.shape[0]),
        n_val=int(ev.val.shape[0]),
        duplicates=ev.training.duplicates,
    )


#: The fewest points :func:`select_c` splits into a training and a validation part.
MIN_POINTS = 4


def _check(data, d, num_samples):
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


def _guard_index(feasible: np.ndarray) -> int:
    """Index of the guard's grid point on an increasing grid, given which points copy little.

    The start of the run of passing points that reaches the largest c (copying falls with c);
    if the largest c itself copies, the largest passing c. Needs one passing point.
    """
    if not feasible[-1]:
        return int(np.flatnonzero(feasible)[-1])
    infeasible = np.flatnonzero(~feasible)
    return 0 if infeasible.size == 0 else int(infeasible[-1]) + 1


def summary(res: BandwidthResult) -> dict:
    """A JSON-ready digest of a :class:`BandwidthResult` (the whole path included)."""
    return {
        "c": res.c,
        "sigma": res.sigma,
        "criterion": res.criterion,
        "scale": res.scale,
        "decided_by": res.decided_by,
        "c_guard": res.c_guard,
        "evaluations": res.evaluations,
        "n_train": res.n_train,
        "n_val": res.n_val,
        "duplicates": res.duplicates,
        "path_c": res.path_c.tolist(),
        "path_criterion": res.path_criterion.tolist(),
        "path_copy_fraction": res.path_copy_fraction.tolist(),
        "path_stage": list(res.path_stage),
        "copy_rule": memorization.RULE,
    }
