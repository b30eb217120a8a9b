r"""Memorization: when a sample is a copy of a training point, and how close samples come.

The criterion of the optimal-denoiser memorization studies, taken against the *distinct*
training points: with :math:`d_1` the distance from a sample to its nearest training point and
:math:`d_2` the distance to the nearest training point that is not a duplicate of that one,
the sample is a *copy* when :math:`d_1 / d_2 < 1/3` (:data:`COPY_RATIO`), or when it lies
within the duplicate tolerance of a training point (:math:`d_1 \le` tol).

Duplicates. Real data hold exact duplicates (quantised sensors, categorical tables, repeated
images) and near ones (rounding). Counted as separate points they blind the ratio: the second
nearest point is then the first one's twin, :math:`d_1 / d_2 \approx 1`, and a memorizer that
returns training points reads as copying nothing. Training points closer than
:func:`duplicate_tolerance` (``DUPLICATE_RTOL`` times the data's length scale, or
``DUPLICATE_ULPS`` units of the dtype's resolution at the data's largest norm, whichever is
larger) therefore count as one point (:func:`distinct`: groups closed under that relation).
Only the metric merges them: the samplers keep every row, so duplicates weigh as the data's law
says. On data without duplicates every distance is what it was (one 2-NN pass).

:func:`is_copy` is the one definition; everything else here reads it. The distances come from
:func:`idm.neighbours.knn` (exact, float64). On a circle the rule still undercounts copies of
random training points that come in pairs closer than the end-time noise but farther apart
than the tolerance.
"""

from __future__ import annotations

import math
import typing

import jax.numpy as jnp
import numpy as np

from idm.neighbours import Index
from idm.schedule import length_scale

__all__ = [
    "COPY_RATIO",
    "DUPLICATE_RTOL",
    "DUPLICATE_ULPS",
    "Distinct",
    "MemorizationReport",
    "TrainingIndex",
    "copy_fraction",
    "copy_mask",
    "distance_to_manifold",
    "distinct",
    "duplicate_tolerance",
    "is_copy",
    "median_nn_distance",
    "memorization_report",
]

COPY_RATIO = 1.0 / 3.0
#: Training points closer than this times the data's length scale are one point.
DUPLICATE_RTOL = 1e-6
#: ... or closer than this many units of the dtype's resolution (eps times the largest norm).
DUPLICATE_ULPS = 64
#: The rule in words, for reports.
RULE = (
    "copy: d1 / d2 < 1/3 or d1 <= tolerance, d2 to the nearest distinct training point "
    "(training points within the tolerance of each other count as one)"
)


def is_copy(nearest, *, ratio=COPY_RATIO, tolerance=0.0):
    """The copy criterion on ``(m, 2)`` distances ``(d1, d2)``: ``(m,)`` bool.

    ``d1`` is the distance to the nearest training point, ``d2`` to the nearest *distinct*
    one (``inf`` when all training points are one): a copy when ``d1 < ratio * d2`` or
    ``d1 <= tolerance``.
    """
    nearest = np.asarray(nearest)
    d1, d2 = nearest[:, 0], nearest[:, 1]
    return (d1 < ratio * d2) | (d1 <= tolerance)


def duplicate_tolerance(data) -> float:
    """The distance under which two training points count as one (see the module docstring).

    ``max(DUPLICATE_RTOL * scale, DUPLICATE_ULPS * eps * max_i |x_i|)``, with ``scale`` the
    data's length scale (:func:`idm.schedule.length_scale`) and ``eps`` the resolution of the
    data's float dtype (float64 for integer data). 0 for a single point at the origin.
    """
    raw = np.asarray(data)
    eps = np.finfo(raw.dtype if raw.dtype.kind == "f" else np.float64).eps
    x = raw.astype(np.float64)
    largest = float(np.max(np.linalg.norm(x, axis=1)))
    scale = length_scale(x)
    return max(DUPLICATE_RTOL * scale, DUPLICATE_ULPS * float(eps) * largest)


class Distinct(typing.NamedTuple):
    """The distinct points of a training set.

    Attributes:
        points: ``(k, D)`` float64, the first row of each group, in the data's order.
        groups: ``(n,)`` int, the group (row of ``points``) of every training row.
        tolerance: the duplicate tolerance used.
        rows: ``(k,)`` int, the index in the data of each group's first row (``points`` is
            ``data[rows]`` in float64).
    """

    points: np.ndarray
    groups: np.ndarray
    tolerance: float
    rows: np.ndarray

    @property
    def duplicates(self) -> int:
        """Training rows that duplicate an earlier one (``n - k``)."""
        return int(self.groups.shape[0] - self.points.shape[0])


#: Coordinates of the projection that finds candidate pairs (a k-d tree is fast there).
_PROJECTED_DIM = 3


def _close_pairs(x: np.ndarray, tol: float) -> np.ndarray:
    """``(p, 2)`` index pairs ``i < j`` of rows with ``|x_i - x_j| <= tol`` (float64).

    Candidates come from a k-d tree on an orthonormal projection to ``_PROJECTED_DIM``
    coordinates (1-Lipschitz, so no close pair is missed; a tree in the full dimension is slow
    from D ~ 100: 2 minutes for 20000 points in D = 1000); each candidate is then measured in
    full.
    """
    from scipy.spatial import cKDTree

    D = x.shape[1]
    y = x
    if D > _PROJECTED_DIM:  # a fixed frame: the result does not depend on it
        gauss = np.random.default_rng(0).standard_normal((D, _PROJECTED_DIM))
        y = x @ np.linalg.qr(gauss)[0]
    cand = cKDTree(y).query_pairs(tol, output_type="ndarray")
    if not len(cand):
        return cand.reshape(0, 2)
    gap = np.linalg.norm(x[cand[:, 0]] - x[cand[:, 1]], axis=1)
    return cand[gap <= tol]


def distinct(data, *, tolerance=None) -> Distinct:
    """Groups the training points closer than ``tolerance`` (transitively) into one point each.

    Exact duplicates by sorting (``np.unique``); near ones among the unique rows by
    :func:`_close_pairs`, closed under the relation (connected components). The one definition
    of distinct rows: ``tolerance=0`` groups exact duplicates only (:mod:`idm.intrinsic_dim`).

    Args:
        data: ``(n, D)`` training points.
        tolerance: the merge distance; None takes :func:`duplicate_tolerance`.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    x = np.asarray(data, np.float64)
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"data must have shape (n, D) with n >= 1, got {x.shape}")
    tol = duplicate_tolerance(data) if tolerance is None else float(tolerance)
    unique, inverse = np.unique(x, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    label = np.arange(unique.shape[0])
    if tol > 0 and unique.shape[0] > 1:
        pairs = _close_pairs(unique, tol)
        if len(pairs):
            k = unique.shape[0]
            graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(k, k))
            label = connected_components(graph, directed=False)[1]
    row_label = label[inverse]
    # groups numbered by their first row, so that the points keep the data's order
    _, first, groups = np.unique(row_label, return_index=True, return_inverse=True)
    order = np.argsort(first)
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    rows = first[order]
    return Distinct(x[rows], rank[groups.reshape(-1)], tol, rows)


class TrainingIndex:
    """A training set prepared once for the copy rule: its distinct points and k-NN indices.

    Args:
        data: ``(n, D)`` training points (``n >= 2``).
        tolerance: the duplicate tolerance (None: :func:`duplicate_tolerance`).
        index: an :class:`idm.neighbours.Index` of ``data`` already built, to share.
    """

    def __init__(self, data, *, tolerance=None, index: Index | None = None):
        self.distinct = distinct(data, tolerance=tolerance)
        self.index = Index(data) if index is None else index
        self._distinct_index = None
        if self.distinct.duplicates and self.distinct.points.shape[0] >= 2:
            self._distinct_index = Index(self.distinct.points)

    @property
    def tolerance(self) -> float:
        """The duplicate tolerance."""
        return self.distinct.tolerance

    @property
    def duplicates(self) -> int:
        """Training rows that duplicate an earlier one."""
        return self.distinct.duplicates

    def nearest(self, samples) -> np.ndarray:
        """``(m, 2)``: distance to the nearest training point and to the nearest distinct one.

        Without duplicates this is the plain 2-NN distance pair. With them, ``d2`` is the
        distance to the nearest group other than the nearest point's group (measured to that
        group's first row); ``inf`` when the data hold one distinct point.
        """
        if not self.distinct.duplicates:
            return self.index.knn(samples, 2).distances
        near = self.index.knn(samples, 1)
        d1 = near.distances[:, 0]
        if self._distinct_index is None:
            return np.stack([d1, np.full_like(d1, np.inf)], axis=1)
        own = self.distinct.groups[near.indices[:, 0]]
        two = self._distinct_index.knn(samples, 2)
        d2 = np.where(two.indices[:, 0] == own, two.distances[:, 1], two.distances[:, 0])
        return np.stack([d1, d2], axis=1)

    def is_copy(self, nearest, *, ratio=COPY_RATIO) -> np.ndarray:
        """:func:`is_copy` of :meth:`nearest`'s ``(m, 2)`` distances at this set's tolerance."""
        return is_copy(nearest, ratio=ratio, tolerance=self.tolerance)

    def copies(self, samples, *, ratio=COPY_RATIO) -> np.ndarray:
        """``(m,)`` bool: the samples that copy a training point (:func:`is_copy`)."""
        return self.is_copy(self.nearest(samples), ratio=ratio)


def copy_mask(samples, data, *, ratio=COPY_RATIO) -> np.ndarray:
    r"""Boolean ``(m,)``: the sample copies a training point (:func:`is_copy`).

    ``data`` is the training set, or a :class:`TrainingIndex` of it (prepared once for many
    sample sets).
    """
    index = data if isinstance(data, TrainingIndex) else TrainingIndex(data)
    return index.copies(samples, ratio=ratio)


def copy_fraction(samples, data, *, ratio=COPY_RATIO) -> float:
    """Fraction of samples that copy a training point (:func:`copy_mask`)."""
    return float(np.mean(copy_mask(samples, data, ratio=ratio)))


def median_nn_distance(samples, data) -> float:
    """Median distance from a sample to its nearest training point."""
    index = data.index if isinstance(data, TrainingIndex) else Index(data)
    return float(np.median(index.knn(samples, 1).distances[:, 0]))


def distance_to_manifold(samples, manifold) -> float:
    """Mean distance of the samples to the manifold (its closed-form ``distance``)."""
    return float(jnp.mean(manifold.distance(jnp.asarray(samples))))


class MemorizationReport(typing.NamedTuple):
    """Memorization statistics of a sample set against its training set.

    Attributes:
        copy_fraction: fraction of samples that copy a training point (:func:`is_copy`).
        median_nn_distance: median of :math:`d_1`.
        manifold_distance: mean distance to the manifold (NaN when none was given).
        nearest: ``(m, 2)`` array of :math:`(d_1, d_2)`, ``d_2`` to the nearest distinct point.
        duplicates: training rows that duplicate an earlier one (within the tolerance).
    """

    copy_fraction: float
    median_nn_distance: float
    manifold_distance: float
    nearest: np.ndarray
    duplicates: int = 0


def memorization_report(samples, data, manifold=None, *, ratio=COPY_RATIO) -> MemorizationReport:
    """All memorization statistics from one nearest-neighbour pass.

    Args:
        samples: shape ``(m, D)``.
        data: training points, shape ``(n, D)``, ``n >= 2``, or a :class:`TrainingIndex`.
        manifold: optional object with ``.distance(x)``.
        ratio: the copy threshold on :math:`d_1 / d_2`.

    Returns:
        A :class:`MemorizationReport`.
    """
    index = data if isinstance(data, TrainingIndex) else TrainingIndex(data)
    nd = index.nearest(samples)
    dist = math.nan if manifold is None else distance_to_manifold(samples, manifold)
    return MemorizationReport(
        copy_fraction=float(np.mean(index.is_copy(nd, ratio=ratio))),
        median_nn_distance=float(np.median(nd[:, 0])),
        manifold_distance=dist,
        nearest=nd,
        duplicates=index.duplicates,
    )
