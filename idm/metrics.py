"""The evaluation names of the public API (``idm.metrics.w1``, ``idm.metrics.copy_fraction``).

Outside checks call exactly these two names (the public API the project was built to), so this
module stays although both now live elsewhere: :func:`w1` is :func:`idm.w1.w1` and
:func:`copy_fraction` is :func:`idm.memorization.copy_fraction`, the same objects.
"""

from idm.memorization import copy_fraction
from idm.w1 import w1

__all__ = ["copy_fraction", "w1"]
