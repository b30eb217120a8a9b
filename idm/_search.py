"""One-dimensional searches shared by the library (private)."""

from __future__ import annotations

import math
from collections.abc import Callable

__all__ = ["golden_section"]

_GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0


def golden_section(f: Callable[[float], float], lo: float, hi: float, steps: int):
    """The bracket ``(lo, hi)`` of a minimum of ``f`` after ``steps`` golden-section steps.

    Each step compares ``f`` at the two interior points ``hi - g (hi - lo)`` and
    ``lo + g (hi - lo)`` (g the golden ratio's inverse) and keeps the side of the smaller;
    for a unimodal ``f`` the minimum stays inside. Both points are evaluated every step (a
    caller that caches ``f`` pays only for the new one).
    """
    for _ in range(int(steps)):
        a, b = hi - _GOLDEN * (hi - lo), lo + _GOLDEN * (hi - lo)
        if f(a) < f(b):
            hi = b
        else:
            lo = a
    return lo, hi
