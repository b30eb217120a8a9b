"""Comparisons between two computed floats, with an explicit slack.

Two solvers (or a bound and an exact value) that agree mathematically can differ by a few
roundings: on an AMD EPYC machine a certified Sinkhorn lower bound converged onto POT's exact
value and exceeded it by one ulp (0.031223420700259664 vs 0.03122342070025955). Every ordering
test between two computed values goes through :func:`below`; statistical tolerances do not.
"""

REL = 1e-12  # a few hundred ulps of float64: far below any tolerance a test states


def below(a: float, b: float, rel: float = REL) -> bool:
    """``a <= b`` up to ``rel`` times the larger magnitude."""
    return a <= b + rel * max(abs(a), abs(b))


def between(lo: float, x: float, hi: float, rel: float = REL) -> bool:
    """``lo <= x <= hi`` up to ``rel``."""
    return below(lo, x, rel) and below(x, hi, rel)


def close(a: float, b: float, rel: float = REL) -> bool:
    """``a == b`` up to ``rel`` times the larger magnitude."""
    return below(a, b, rel) and below(b, a, rel)
