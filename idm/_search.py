"""Golden-section search on an interval (private).

Two forms of the same search, which agree in exact arithmetic and differ in the last bits:

* :func:`golden_section`: the textbook update. Each step keeps one interior point (its position
  and its value) and evaluates one new one: ``steps`` steps cost ``steps + 1`` evaluations.
  :func:`idm.bandwidth.select_c` uses it; it selected the same ``c``, bit for bit, as the
  recomputing form on every committed ``c=auto`` row (53 selections: results/tradeoff,
  results/crossover, results/bandwidth).
* :func:`golden_section_recomputed`: both interior points recomputed from the bracket's ends
  each step, each distinct point evaluated once. The point kept from the previous step comes
  back an ulp away about half the time and is then evaluated again (40.7 evaluations for 30
  steps on random circle clouds, against 60 before the memo). The circle's monotone coupling
  (:func:`idm.w1.circle.monotone`) uses it because the committed W1 bounds of circle rows were
  computed with this arithmetic: the textbook update changes the fitted cost in the last bits
  (121 of 200 random fits differ, by up to 1.3e-15 relative).
"""

from __future__ import annotations

import math
from collections.abc import Callable

__all__ = ["golden_section", "golden_section_recomputed"]

_GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0


def golden_section(f: Callable[[float], float], lo: float, hi: float, steps: int):
    """The bracket ``(lo, hi)`` of a minimum of ``f`` after ``steps`` golden-section steps.

    The interior points are ``a = hi - g (hi - lo)`` and ``b = lo + g (hi - lo)`` (g the golden
    ratio's inverse); each step keeps the side of the smaller value, and the surviving interior
    point becomes an interior point of the new bracket, so only the other one is evaluated.
    For a unimodal ``f`` the minimum stays inside. ``f`` is called ``steps + 1`` times (never
    for ``steps = 0``).
    """
    steps = int(steps)
    if steps <= 0:
        return lo, hi
    a, b = hi - _GOLDEN * (hi - lo), lo + _GOLDEN * (hi - lo)
    fa, fb = f(a), f(b)
    for _ in range(steps - 1):
        if fa < fb:  # the minimum is in [lo, b]: b := a, a new
            hi, b, fb = b, a, fa
            a = hi - _GOLDEN * (hi - lo)
            fa = f(a)
        else:  # in [a, hi]: a := b, b new
            lo, a, fa = a, b, fb
            b = lo + _GOLDEN * (hi - lo)
            fb = f(b)
    return (lo, b) if fa < fb else (a, hi)


def golden_section_recomputed(f: Callable[[float], float], lo: float, hi: float, steps: int):
    """:func:`golden_section` with both interior points recomputed from the bracket each step.

    Each distinct point (as a float) is evaluated once; the result is bit-identical to the
    search that evaluated both points every step.
    """
    seen: dict[float, float] = {}

    def value(x: float) -> float:
        if x not in seen:
            seen[x] = f(x)
        return seen[x]

    for _ in range(int(steps)):
        a, b = hi - _GOLDEN * (hi - lo), lo + _GOLDEN * (hi - lo)
        if value(a) < value(b):
            hi = b
        else:
            lo = a
    return lo, hi
