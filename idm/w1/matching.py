r"""A large assignment at near-linear cost: recursive median bisection, exact OT in the leaves.

An upper bound on W1 needs a coupling, not the optimal one, and any permutation between two
equal-size point sets is a coupling of their empirical measures. :func:`bisection` builds one
for sizes that exact OT cannot afford (m = 2^16 in a few seconds here, where the network
simplex is O(m^3)): both sets are split at their own medians along the axis of largest extent
of their union, each half of one matched with the same half of the other, recursively, until
``leaf`` points per side remain; the leaves are solved exactly (POT's network simplex).

The splits force equal counts on the two sides of every cut, so the coupling pays for mass
that the optimal plan moves across a cut: its cost is the exact W1 when ``m <= leaf`` and above
it otherwise. :func:`refine` takes most of that back: it cuts the *pairs* again, by their
midpoints in a randomly rotated frame, and re-solves every leaf of pairs exactly; each leaf's
current assignment is feasible there, so no pass raises the cost, and the moved cuts let pairs
trade across the old ones (measured on S^2, m = 8192, leaf 1024: bisection 6.0% above the
exact optimum, 0.5% after four passes). Where the cost is dominated by the quantisation of the
sets at their own spacing (a d-dimensional law, m^(-1/d)), a larger m buys a smaller upper bound
at a cost of O(m log m + m leaf^2) per pass: measured on S^2 (n = 10^5, IDM's law against the
rotated Fibonacci set, leaf 512), 0.0269 at m = 2^16 by bisection and 0.0260 after four passes
(2.3 s each here), against a radial lower bound of 0.0220.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from idm.w1.exact import pot_cost

__all__ = ["Matching", "bisection", "match", "refine"]


@dataclasses.dataclass(frozen=True)
class Matching:
    r"""A permutation coupling of two equal-size point sets.

    A plan, not an estimate: :func:`idm.w1.law.matched_bound` turns its cost into an upper
    bound.

    Attributes:
        cost: mean Euclidean cost :math:`\frac1m \sum_i |x_i - y_{\pi(i)}|` (float64).
        perm: (m,) the permutation: x[i] is matched with y[perm[i]].
        leaves: number of exact leaf problems solved.
        optimal: every leaf's network simplex reached its optimum.
    """

    cost: float
    perm: np.ndarray
    leaves: int
    optimal: bool


def _leaf(x, y):
    """The optimal permutation between two small equal-size sets, and whether it is optimal."""
    import ot

    plan, log = ot.emd([], [], pot_cost(x, y), numItermax=10**9, log=True)
    return np.argmax(plan, axis=1), log["result_code"] == 1


def _widest_axis(points) -> int:
    return int(np.argmax(points.max(axis=0) - points.min(axis=0)))


def _halves(values, ix):
    """``ix`` ordered by ``values`` and cut at the median."""
    order = ix[np.argsort(values, kind="stable")]
    h = len(ix) // 2
    return order[:h], order[h:]


def _check(x, y, leaf):
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if x.ndim != 2 or x.shape != y.shape:
        raise ValueError(f"x and y must have the same shape (m, k), got {x.shape}, {y.shape}")
    if leaf < 1:
        raise ValueError(f"leaf must be >= 1, got {leaf}")
    return x, y


def _cut_and_solve(x, y, ix, iy, leaf, split) -> Matching:
    """Splits (ix, iy) by ``split`` down to ``leaf`` points a side, solves each leaf exactly."""
    perm = np.empty(len(x), np.int64)
    stack, leaves, optimal = [(ix, iy)], 0, True
    while stack:
        ix, iy = stack.pop()
        if len(ix) <= leaf:
            p, good = _leaf(x[ix], y[iy])
            perm[ix] = iy[p]
            leaves, optimal = leaves + 1, optimal and bool(good)
            continue
        stack += split(ix, iy)
    return _matching(x, y, perm, leaves, optimal)


def _matching(x, y, perm, leaves, optimal) -> Matching:
    cost = float(np.mean(np.linalg.norm(x - y[perm], axis=1)))
    return Matching(cost=cost, perm=perm, leaves=leaves, optimal=optimal)


def bisection(x, y, *, leaf: int = 256) -> Matching:
    """A permutation coupling of ``x`` and ``y`` by median bisection with exact leaves.

    Args:
        x: (m, k) points.
        y: (m, k) points (the same number).
        leaf: the largest leaf solved exactly (its O(leaf^3) network simplex).

    Returns:
        A :class:`Matching`; its ``cost`` is an upper bound on the exact OT value between the
        two empirical measures (equal to it when ``m <= leaf``).
    """
    x, y = _check(x, y, leaf)

    def split(ix, iy):  # each set at its own median, along the widest axis of their union
        axis = _widest_axis(np.concatenate([x[ix], y[iy]]))
        (x0, x1), (y0, y1) = _halves(x[ix, axis], ix), _halves(y[iy, axis], iy)
        return [(x0, y0), (x1, y1)]

    everything = np.arange(len(x))
    return _cut_and_solve(x, y, everything, everything, leaf, split)


def refine(key, x, y, perm, *, leaf: int = 256, passes: int = 4) -> Matching:
    """``passes`` rounds of re-cutting the pairs (x_i, y_perm[i]) and re-solving each leaf.

    Each pass draws a Haar-random rotation from ``key`` (folded by the pass), bisects the pairs
    at the median of their rotated midpoints down to ``leaf`` pairs, and replaces each leaf's
    assignment by the optimal one among its own points: the cost never increases.
    """
    import jax

    x, y = _check(x, y, leaf)
    perm = np.asarray(perm, np.int64)
    m, k = x.shape
    if not np.array_equal(np.sort(perm), np.arange(m)):
        raise ValueError("perm must be a permutation of range(len(x))")
    leaves, optimal = 0, True
    for p in range(passes):
        rotation = np.asarray(jax.random.orthogonal(jax.random.fold_in(key, p), k), np.float64)
        mid = ((x + y[perm]) / 2) @ rotation

        def split(ix, iy, mid=mid, perm=perm):  # the pairs stay together
            axis = _widest_axis(mid[ix])
            return [(h, perm[h]) for h in _halves(mid[ix, axis], ix)]

        step = _cut_and_solve(x, y, np.arange(m), perm, leaf, split)
        perm, leaves, optimal = step.perm, leaves + step.leaves, optimal and step.optimal
    return _matching(x, y, perm, leaves, optimal)


def match(key, x, y, *, leaf: int = 256, passes: int = 4) -> Matching:
    """:func:`bisection`, then :func:`refine` (``passes`` rounds): the coupling the bounds use."""
    first = bisection(x, y, leaf=leaf)
    if passes == 0:
        return first
    out = refine(key, x, y, first.perm, leaf=leaf, passes=passes)
    return dataclasses.replace(
        out, leaves=out.leaves + first.leaves, optimal=out.optimal and first.optimal
    )
