"""The evaluation API under its first name (it moved to memorization, neighbours and w1).

``idm.metrics.w1``, ``idm.metrics.copy_fraction`` and the rest keep working: they are the
objects of :mod:`idm.memorization`, :mod:`idm.neighbours` and :mod:`idm.w1`.
"""

from idm.memorization import (
    COPY_RATIO,
    MemorizationReport,
    copy_fraction,
    copy_mask,
    distance_to_manifold,
    is_copy,
    median_nn_distance,
    memorization_report,
)
from idm.neighbours import nearest_distances
from idm.w1 import W1NotConverged, W1Result, w1, w1_floor, w1_result

__all__ = [
    "COPY_RATIO",
    "MemorizationReport",
    "W1NotConverged",
    "W1Result",
    "copy_fraction",
    "copy_mask",
    "distance_to_manifold",
    "is_copy",
    "median_nn_distance",
    "memorization_report",
    "nearest_distances",
    "w1",
    "w1_floor",
    "w1_result",
]
