"""Wasserstein-1 distances: between point clouds, and between a cloud and a law.

* :mod:`idm.w1.plugin`: :func:`w1`, :func:`w1_result`, :func:`w1_floor`, the plug-in W1
  between two point clouds by either solver, and the floor of that estimate;
* :mod:`idm.w1.exact`: the exact optimum (assignment problem or network simplex);
* :mod:`idm.w1.sinkhorn`: entropic OT (ott-jax) with a certified bracket [lower, upper];
* :mod:`idm.w1.semidiscrete`: a cloud against a continuous population law (no sampling floor on
  the population side);
* :mod:`idm.w1._record`: :class:`W1Result`, the record they return, and :class:`W1NotConverged`.
"""

from idm.w1 import exact, plugin, semidiscrete, sinkhorn
from idm.w1._record import W1NotConverged, W1Result
from idm.w1.plugin import w1, w1_floor, w1_result

__all__ = [
    "W1NotConverged",
    "W1Result",
    "exact",
    "plugin",
    "semidiscrete",
    "sinkhorn",
    "w1",
    "w1_floor",
    "w1_result",
]
