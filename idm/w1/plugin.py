r"""The plug-in W1 between two point clouds, by either solver, and its sampling floor.

:func:`w1_result` dispatches to :func:`idm.w1.exact.exact` (``method="exact"``) or
:func:`idm.w1.sinkhorn.sinkhorn` (``method="sinkhorn"``: any sizes, online for large ``n m``, a
certified bracket). The default, ``"auto"``, takes exact OT up to ``EXACT_MAX_PAIRS`` = 4096^2
point pairs, where it was measured 15-47x faster than Sinkhorn on a 2-core CPU (m = 1000 and
4000, ``results/bench/cpu/bench_w1.json``), and Sinkhorn above (exact OT's time grows as m^3 and
its cost matrix as m^2; the crossover past 4096 is not measured).

Between two m-point samples the plug-in value has a floor of about :math:`m^{-1/2}` (d <= 2) or
:math:`m^{-1/d}`: :func:`w1_floor` measures it (two independent population samples), to be
reported beside every value at that m.
"""

from __future__ import annotations

import warnings

import jax
import numpy as np

from idm.w1._record import W1Estimate, W1NotConverged
from idm.w1.exact import exact
from idm.w1.sinkhorn import sinkhorn

__all__ = ["EXACT_MAX_PAIRS", "w1", "w1_floor", "w1_result"]

# The default's exact OT up to this n m (4096 a side): measured 15-47x faster than Sinkhorn at
# m = 1000 and 4000 (results/bench/cpu/bench_w1.json).
EXACT_MAX_PAIRS = 4096**2
_EXACT_OPTIONS = frozenset({"max_size", "num_iter_max"})


def _solver(method, n, m, options) -> str:
    """``method`` with ``"auto"`` resolved: exact up to EXACT_MAX_PAIRS without Sinkhorn options."""
    if method != "auto":
        return method
    return "exact" if n * m <= EXACT_MAX_PAIRS and set(options) <= _EXACT_OPTIONS else "sinkhorn"


def w1_result(x, y, *, method="auto", warn=True, **kwargs) -> W1Estimate:
    r"""W1 between the uniform measures on two point clouds, with diagnostics.

    Args:
        x: shape ``(n, D)``.
        y: shape ``(m, D)``.
        method: ``"auto"`` (exact OT when ``n m <= EXACT_MAX_PAIRS`` and no Sinkhorn option is
            given, else Sinkhorn), ``"exact"``, or ``"sinkhorn"`` (ott-jax, any sizes, online
            for large ``n m``).
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

            Exact: ``max_size`` (0), the largest ``lcm(n, m)`` of unequal sizes solved as an
            expanded assignment (larger ones: POT's network simplex).

    Returns:
        A :class:`W1Estimate`.
    """
    method = _solver(method, np.shape(x)[0], np.shape(y)[0], kwargs)
    if method == "sinkhorn":
        res = sinkhorn(x, y, **kwargs)
    elif method == "exact":
        res = exact(x, y, **kwargs)
    else:
        raise ValueError(f"method must be 'auto', 'exact' or 'sinkhorn', got {method!r}")
    if not np.isfinite(res.value):
        raise FloatingPointError(
            f"W1 by {res.method} is not finite ({res.value}); diagnostics {dict(res.diagnostics)}"
        )
    if warn and not res.converged and res.method == "sinkhorn":
        info = res.diagnostics
        warnings.warn(
            f"W1 by Sinkhorn not certified: value {res.value:.6g}, bracket "
            f"[{res.lower:.6g}, {res.upper:.6g}], eps {info['epsilon']:.3g}, "
            f"{info['n_iters']} iterations, marginal error {info['marginal_error']:.2g}",
            W1NotConverged,
            stacklevel=2,
        )
    return res


def w1(x, y, *, method="auto", **kwargs) -> float:
    """W1 between two point clouds: the ``value`` of :func:`w1_result` (warns if unconverged)."""
    return w1_result(x, y, method=method, **kwargs).value


def w1_floor(key, sampler, m, *, method="auto", **kwargs) -> W1Estimate:
    """The evaluator's own floor: W1 between two independent population samples of size m.

    Args:
        key: PRNG key.
        sampler: ``(key, m) -> (m, D)`` population sampler, e.g. ``manifold.sample``.
        m: sample size of each side.
        method: as in :func:`w1_result`.
        **kwargs: as in :func:`w1_result`.

    Returns:
        A :class:`W1Estimate`; report its ``value`` beside every W1 measured at this m.
    """
    k1, k2 = jax.random.split(key)
    return w1_result(sampler(k1, m), sampler(k2, m), method=method, **kwargs)
