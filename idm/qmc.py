r"""Low-discrepancy draws of a method's law, for evaluation: the same law, far less noise.

The exact sampler's output (:func:`idm.sample` with ``solver="exact"``) is a function of a
mixture index :math:`I` (uniform over the n training points) and a Gaussian vector
:math:`\xi`: :math:`x = T(\alpha_s x_I + \sqrt{v_s}\,\xi)`, with T the Tweedie posterior mean
at :math:`s = \sigma^2` (``idm``) or at ``t_end`` (``dm``). Its law can be drawn with far less
sampling noise than iid draws give, without changing it:

* **Noise**: :math:`\xi = \Phi^{-1}(u)` for u the points of a scrambled Sobol sequence
  (``scipy.stats.qmc.Sobol``; randomized QMC: every point is marginally uniform, so every
  draw has the law exactly and means over draws are unbiased).
* **Indices, stratified**: the training points are put in a locality-preserving order (the leaf
  order of a k-d tree) and draw j takes the point at position
  :math:`\lfloor (r_j + \omega) n / m \rfloor`, :math:`r_j` the rank of the draw's first
  Sobol coordinate, :math:`\omega` a uniform offset: each training point is drawn
  :math:`\lfloor m/n \rfloor` or :math:`\lceil m/n \rceil` times (exactly ``m/n`` times when n
  divides m) and, when m < n, every block of n/m neighbouring points exactly once. Measured on
  the circle (n = 1000, m = 2^12 and 2^14): the spread of W1 estimates over scramblings fell
  from 8% with independent indices to 0.3% with stratified ones.

When the data lie in a linear subspace (a manifold placed in R^D by a frame), pass the
coordinates in that span (``data @ frame.T``): the noise orthogonal to the span adds the same
constant to every logit of the posterior weights, so the output's law is the same, at a cost
free of D. ``method="train"`` draws the training points themselves (stratified, no noise): a
low-discrepancy draw of the empirical measure.

Randomness: every function takes a JAX key first; the Sobol scrambling seed, the offset
:math:`\omega` and nothing else derive from it, so a key fixes the draws.
"""

from __future__ import annotations

import warnings

import numpy as np

from idm import schedule, score
from idm.samplers import DM_END_TIME

__all__ = ["METHODS", "sample", "seed_of", "stratified_indices", "spatial_order"]

#: Methods whose law is drawn here (their outputs are convex combinations of training points).
METHODS = ("idm", "dm", "train")


def seed_of(key) -> int:
    """A NumPy / SciPy seed (a non-negative int) derived from a JAX key."""
    import jax

    return int(jax.random.randint(key, (), 0, 2**31 - 1))


def spatial_order(points) -> np.ndarray:
    """A locality-preserving order of the points: the leaf order of a k-d tree (n,)."""
    from scipy.spatial import cKDTree

    return np.asarray(cKDTree(np.asarray(points, np.float64), leafsize=1).indices)


def stratified_indices(u0: np.ndarray, n: int, order: np.ndarray, offset: float) -> np.ndarray:
    """Mixture indices for m draws: each point floor/ceil(m/n) times, spread along ``order``.

    Args:
        u0: (m,) the first coordinate of the draws' Sobol points (its ranks assign the slots).
        n: number of training points.
        order: (n,) locality-preserving permutation of the training points.
        offset: in [0, 1): the random offset of the systematic sample.
    """
    m = len(u0)
    rank = np.argsort(np.argsort(u0, kind="stable"), kind="stable")
    slot = np.minimum(((rank + offset) * n / m).astype(np.int64), n - 1)
    return order[slot]


def sample(
    key,
    data,
    num_samples: int,
    *,
    method: str = "idm",
    sigma: float | None = None,
    t_end: float = DM_END_TIME,
    order=None,
    block_size=None,
    precision="highest",
) -> np.ndarray:
    """Randomized-QMC draws of the law of ``method`` (the exact sampler's output).

    Args:
        key: JAX key (fixes the scrambling and the offset).
        data: (n, k) training points (their span coordinates where they lie in a subspace).
        num_samples: draws m (a power of two keeps the Sobol set balanced).
        method: ``"idm"`` (Tweedie step at sigma^2), ``"dm"`` (denoised mean at ``t_end``) or
            ``"train"`` (the training points themselves).
        sigma: the bandwidth (``idm``).
        t_end: the end time (``dm``).
        order: (n,) locality-preserving order of the training points (default
            :func:`spatial_order`).
        block_size: training points per streamed block, as in :func:`idm.score.denoise`.
        precision: matmul precision, as in :func:`idm.score.denoise`.

    Returns:
        (m, k) float64 NumPy array.
    """
    from scipy.stats import norm, qmc

    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    data = np.asarray(data, np.float64)
    if data.ndim != 2 or data.shape[0] < 1:
        raise ValueError(f"data must have shape (n, k), got {data.shape}")
    m = int(num_samples)
    if m < 1:
        raise ValueError(f"num_samples must be >= 1, got {num_samples}")
    n, k = data.shape
    seed = seed_of(key)
    rng = np.random.default_rng(seed)
    order = spatial_order(data) if order is None else np.asarray(order)
    dims = 1 if method == "train" else k + 1
    with warnings.catch_warnings():
        # SciPy warns when m is not a power of two. The first m points of a scrambled Sobol'
        # sequence are still a randomized-QMC set (every point uniform, so every mean stays
        # unbiased); only the variance reduction is smaller. Callers choose m (powers of two
        # by default), and a drawn sample must not depend on whether a warning was shown.
        warnings.filterwarnings("ignore", "The balance properties of Sobol", UserWarning)
        u = qmc.Sobol(d=dims, scramble=True, seed=rng).random(m)
    idx = stratified_indices(u[:, 0], n, order, float(rng.uniform()))
    if method == "train":
        return data[idx]
    if method == "idm":
        if sigma is None or not sigma > 0:
            raise ValueError(f"method='idm' needs sigma > 0, got {sigma}")
        t = float(sigma) ** 2
    else:
        t = float(t_end)
    xi = norm.ppf(np.clip(u[:, 1:], 2.0**-53, 1 - 2.0**-53))  # a scrambled point is never 0
    a, v = float(schedule.alpha(t)), float(schedule.var(t))
    z = a * data[idx] + np.sqrt(v) * xi
    out = score.denoise(z, data, t, block_size=block_size, precision=precision)
    return np.asarray(out, np.float64)
