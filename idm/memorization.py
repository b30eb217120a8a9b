r"""Memorization: when a sample is a copy of a training point, and how close samples come.

The criterion of the optimal-denoiser memorization studies: with :math:`d_1 \le d_2` the
distances from a sample to its two nearest training points, the sample is a *copy* when
:math:`d_1 / d_2 < 1/3` (:data:`COPY_RATIO`), or when it sits exactly on a training point
(:math:`d_1 = 0`, which also covers a duplicated training point, :math:`d_2 = 0`).
:func:`is_copy` is the one definition; everything else here reads it. On a circle the rule
undercounts copies, because random training points there come in near-duplicate pairs
closer than the end-time noise.

The distances come from :func:`idm.neighbours.knn` (exact, float64).
"""

from __future__ import annotations

import math
import typing

import jax.numpy as jnp
import numpy as np

from idm.neighbours import nearest_distances

__all__ = [
    "COPY_RATIO",
    "MemorizationReport",
    "copy_fraction",
    "copy_mask",
    "distance_to_manifold",
    "is_copy",
    "median_nn_distance",
    "memorization_report",
]

COPY_RATIO = 1.0 / 3.0


def is_copy(nearest, *, ratio=COPY_RATIO):
    """The copy criterion on ``(m, 2)`` nearest / second-nearest distances: ``(m,)`` bool."""
    nearest = np.asarray(nearest)
    d1, d2 = nearest[:, 0], nearest[:, 1]
    return (d1 < ratio * d2) | (d1 == 0)


def copy_mask(samples, data, *, ratio=COPY_RATIO) -> np.ndarray:
    r"""Boolean ``(m,)``: the sample copies a training point, :math:`d_1 < \mathrm{ratio}\, d_2`.

    A sample exactly on a training point (:math:`d_1 = 0`) counts as a copy even when that point
    is duplicated in the training set (:math:`d_2 = 0`).
    """
    return is_copy(nearest_distances(samples, data, 2), ratio=ratio)


def copy_fraction(samples, data, *, ratio=COPY_RATIO) -> float:
    """Fraction of samples that copy a training point (the 1/3-ratio criterion)."""
    return float(np.mean(copy_mask(samples, data, ratio=ratio)))


def median_nn_distance(samples, data) -> float:
    """Median distance from a sample to its nearest training point."""
    return float(np.median(nearest_distances(samples, data, 1)[:, 0]))


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
    nearest: np.ndarray


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
    dist = math.nan if manifold is None else distance_to_manifold(samples, manifold)
    return MemorizationReport(
        copy_fraction=float(np.mean(is_copy(nd, ratio=ratio))),
        median_nn_distance=float(np.median(nd[:, 0])),
        manifold_distance=dist,
        nearest=nd,
    )
