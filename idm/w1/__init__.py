"""Wasserstein-1 distances: between point clouds, and between a cloud and a law.

* :mod:`idm.w1.plugin`: :func:`w1`, :func:`w1_result`, :func:`w1_floor`, the plug-in W1
  between two point clouds by either solver, and the floor of that estimate;
* :mod:`idm.w1.exact`: the exact optimum (assignment problem or network simplex);
* :mod:`idm.w1.sinkhorn`: entropic OT (ott-jax) with a certified bracket [lower, upper];
* :mod:`idm.w1.law`: a law known by its draws against a population law, with an error bar
  (a bracket of certified bounds, or an extrapolation in the number of draws);
* :mod:`idm.w1.matching`: a permutation coupling of large equal-size sets (median bisection,
  exact leaves): an upper bound at near-linear cost;
* :mod:`idm.w1.sphere`: the radial-tangential lower bound against the uniform sphere S^d;
* :mod:`idm.w1.potential`: the c-transform of a potential on anchors and its mean (the dual
  lower bounds);
* :mod:`idm.w1.circle`: the monotone coupling with the uniform circle, its potential, and W1
  along the circle;
* :mod:`idm.w1.semidiscrete`: a cloud against a continuous population law (no sampling floor on
  the population side);
* :mod:`idm.w1.sobolev`: an upper bound on W1 between IDM's law and the uniform S^d with no
  population point set (the H^-1 norm of the noisy points' law, a pair sum over the data);
* :mod:`idm.w1.divergence`: :func:`sinkhorn_divergence`, the debiased Sinkhorn divergence with
  the Euclidean cost as a JAX scalar (``jit``, ``vmap``, ``grad``): a differentiable loss, not
  a certified W1 (it undershoots W1);
* :mod:`idm.w1._record`: :class:`W1Estimate`, the one record every evaluator returns (value,
  bounds, error bar, which bound decided, diagnostics), and :class:`W1NotConverged`.
"""

from idm.w1 import (
    circle,
    divergence,
    exact,
    law,
    matching,
    plugin,
    potential,
    semidiscrete,
    sinkhorn,
    sobolev,
    sphere,
)
from idm.w1._record import W1Estimate, W1NotConverged
from idm.w1.divergence import sinkhorn_divergence
from idm.w1.plugin import w1, w1_floor, w1_result

__all__ = [
    "W1Estimate",
    "W1NotConverged",
    "circle",
    "divergence",
    "exact",
    "law",
    "matching",
    "plugin",
    "potential",
    "semidiscrete",
    "sinkhorn",
    "sinkhorn_divergence",
    "sobolev",
    "sphere",
    "w1",
    "w1_floor",
    "w1_result",
]
