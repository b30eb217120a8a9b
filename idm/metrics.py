"""The evaluation API under its first name (it moved to memorization, neighbours and w1).

``idm.metrics.w1``, ``idm.metrics.copy_fraction`` and the rest keep working: they are the
objects of :mod:`idm.memorization`, :mod:`idm.neighbours` and :mod:`idm.w1`.
"""

from idm import memorization as _memorization
from idm.memorization import *  # noqa: F403
from idm.neighbours import nearest_distances
from idm.w1 import W1Estimate, W1NotConverged, w1, w1_floor, w1_result

__all__ = [
    *_memorization.__all__,
    "W1Estimate",
    "W1NotConverged",
    "nearest_distances",
    "w1",
    "w1_floor",
    "w1_result",
]
