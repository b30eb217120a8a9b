"""idm: the inertial diffusion model of Lyu, Qian, Nguyen and Tong (arXiv 2505.02508).

Every public submodule is imported here, so ``import idm`` reaches the whole API:

* :mod:`idm.schedule`: the forward OU process and the bandwidth rule;
* :mod:`idm.score`: the exact score and Tweedie denoiser of the smoothed empirical measure;
* :mod:`idm.samplers`: :func:`idm.sample`, IDM and its baselines;
* :mod:`idm.cfdm`: the smoothed closed-form diffusion model (sigma-CFDM) baseline;
* :mod:`idm.manifolds`: data manifolds with known laws, samplers and projections;
* :mod:`idm.neighbours`: exact k nearest neighbours, streamed;
* :mod:`idm.memorization`: the copy criterion and memorization statistics;
* :mod:`idm.qmc`: low-discrepancy draws of a method's law, for evaluation;
* :mod:`idm.metrics`: ``w1`` and ``copy_fraction`` under the public API's names;
* :mod:`idm.w1`: W1 between clouds (exact, Sinkhorn), between laws with an error bar, and
  against a law (semidiscrete);
* :mod:`idm.rates`: fitting decay exponents;
* :mod:`idm.intrinsic_dim`: intrinsic dimension from data (``d=auto``);
* :mod:`idm.bandwidth`: the bandwidth constant from data (``c=auto``);
* :mod:`idm.trained`: a trained score network (``method="trained"``), the usual route beside
  the empirical score.
"""

from idm import (
    bandwidth,
    cfdm,
    intrinsic_dim,
    manifolds,
    memorization,
    metrics,
    neighbours,
    qmc,
    rates,
    samplers,
    schedule,
    score,
    trained,
    w1,
)
from idm.samplers import sample

__all__ = [
    "bandwidth",
    "cfdm",
    "intrinsic_dim",
    "manifolds",
    "memorization",
    "metrics",
    "neighbours",
    "qmc",
    "rates",
    "sample",
    "samplers",
    "schedule",
    "score",
    "trained",
    "w1",
]
