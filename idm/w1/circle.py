r"""W1 against the uniform law on the unit circle: the angle-monotone coupling and its potential.

For a point cloud :math:`x_1..x_m` in the plane (in practice near the unit circle) and
:math:`\nu` the uniform law on the circle, cost :math:`|x - y|`:

* **Monotone coupling** (:func:`monotone`): sort the points by angle and give the j-th the arc
  :math:`[\alpha + 2\pi j/m, \alpha + 2\pi (j+1)/m)` of the circle, all of it, uniformly. This
  is a coupling of :math:`\mu_m = \frac1m\sum_j\delta_{x_j}` and :math:`\nu`, so its cost,
  :math:`\frac1m \sum_j \frac{m}{2\pi}\int_{\mathrm{arc}_j} |x_j - y(\phi)|\, d\phi` (Gauss-Legendre
  over each arc, exact to rounding because the arcs are short and the points off the circle),
  is an upper bound on :math:`W_1(\mu_m, \nu)`. The shift :math:`\alpha` starts at the circular
  median of the angle residuals (the optimum for the arc cost) and is refined by golden-section
  search on the exact cost.
* **Its potential** (:func:`monotone_potential`): if the coupling were optimal, neighbouring
  points would be indifferent at their common arc end :math:`b_j`, which fixes the point-side
  potential up to a constant by the recursion
  :math:`\varphi_j - \varphi_{j-1} = |x_j - b_j| - |x_{j-1} - b_j|` (the mismatch around the
  loop spread linearly), and the circle-side potential
  :math:`\psi(y) = |x_{j(y)} - y| - \varphi_{j(y)}` (:math:`j(y)` the arc owning y). Any
  :math:`\psi` gives a lower bound through its c-transform (``idm.w1.law``); this one is good
  where the monotone coupling is nearly optimal (measured: within 1% of the upper bound for
  n = 4000 to 16000 training points, 6% at 32768, where points at different radii would gain
  from trading arcs; and poor at n = 1000, where exact OT's dual does better).
* **On the circle** (:func:`tangential`): W1 with the arc-length cost between the projected
  law :math:`P_\#\mu_m` (:math:`P x = x/|x|`) and :math:`\nu`, in closed form
  (Rabin, Delon, Gousseau 2011): :math:`2\pi \min_a \int_0^1 |F(t) - t - a|\, dt` for F the
  cumulative distribution of the angle over :math:`2\pi`; the minimising a is a median. The
  part of W1 that moves mass along the circle: the training set's own angular imbalance, which
  IDM inherits.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from idm._search import golden_section_recomputed

__all__ = ["MonotoneCoupling", "arc_means", "monotone", "monotone_potential", "tangential"]

_GL_X, _GL_W = np.polynomial.legendre.leggauss(6)
_TWO_PI = 2.0 * np.pi


def _circle(phi):
    return np.stack([np.cos(phi), np.sin(phi)], axis=-1)


def _angles(x: np.ndarray) -> np.ndarray:
    return np.arctan2(x[:, 1], x[:, 0]) % _TWO_PI


def arc_means(x: np.ndarray, start: np.ndarray, width: float) -> np.ndarray:
    """Mean distance from each x_j to the circle arc [start_j, start_j + width] (Gauss-Legendre)."""
    nodes = start[:, None] + width * (_GL_X[None, :] + 1.0) / 2.0
    dist = np.linalg.norm(x[:, None, :2] - _circle(nodes), axis=-1)
    if x.shape[1] > 2:  # coordinates off the plane of the circle add in quadrature
        dist = np.sqrt(dist**2 + np.sum(x[:, None, 2:] ** 2, axis=-1))
    return dist @ _GL_W / 2.0


@dataclasses.dataclass(frozen=True)
class MonotoneCoupling:
    """The angle-monotone coupling of a cloud with the uniform circle.

    A plan, not an estimate: :func:`idm.w1.law.monotone_bounds` turns its cost and potential
    into bounds.

    Attributes:
        cost: its transport cost, an upper bound on W1 between the cloud and the circle.
        points: (m, k) the cloud sorted by angle (point j owns arc j).
        alpha: the start of arc 0.
    """

    cost: float
    points: np.ndarray
    alpha: float

    @property
    def width(self) -> float:
        """Angular width of each arc, 2 pi / m."""
        return _TWO_PI / len(self.points)


def monotone(x, *, refine: int = 30) -> MonotoneCoupling:
    """The angle-monotone coupling of the (m, k) cloud x (first two coordinates: the plane).

    Args:
        x: (m, k) points; coordinates beyond the first two are orthogonal to the circle's plane.
        refine: golden-section steps on the shift (each costs one pass over the arcs).

    Returns:
        A :class:`MonotoneCoupling`.
    """
    x = np.asarray(x, np.float64)
    if x.ndim != 2 or x.shape[1] < 2 or len(x) < 1:
        raise ValueError(f"x must have shape (m, k >= 2), got {x.shape}")
    m = len(x)
    theta = _angles(x)
    order = np.argsort(theta, kind="stable")
    xs, ts = x[order], theta[order]
    h = _TWO_PI / m
    resid = (ts - h * (np.arange(m) + 0.5) + np.pi) % _TWO_PI - np.pi
    centre = np.angle(np.mean(np.exp(1j * resid)))
    alpha = centre + float(np.median((resid - centre + np.pi) % _TWO_PI - np.pi))

    def cost(a):
        return float(np.mean(arc_means(xs, a + h * np.arange(m), h)))

    lo, hi = golden_section_recomputed(cost, alpha - 2 * h, alpha + 2 * h, refine)
    alpha = (lo + hi) / 2.0
    return MonotoneCoupling(cost(alpha), xs, alpha)


def monotone_potential(coupling: MonotoneCoupling, anchors_phi: np.ndarray) -> np.ndarray:
    """The circle-side potential psi of the coupling at the angles ``anchors_phi`` (M,)."""
    xs, h, alpha = coupling.points, coupling.width, coupling.alpha
    m = len(xs)
    ends = _circle(alpha + h * np.arange(m))  # ends[j]: where arc j - 1 meets arc j

    def dist(p, y):
        d = np.linalg.norm(p[:, :2] - y, axis=1)
        return np.sqrt(d**2 + np.sum(p[:, 2:] ** 2, axis=1)) if p.shape[1] > 2 else d

    step = dist(xs, ends) - dist(np.roll(xs, 1, axis=0), ends)
    loop = float(np.sum(step))  # over the whole loop; zero for an optimal coupling
    step[0] = 0.0
    phi = np.cumsum(step) - loop * np.arange(m) / m
    j = np.floor(((np.asarray(anchors_phi) - alpha) % _TWO_PI) / h).astype(np.int64) % m
    return dist(xs[j], _circle(np.asarray(anchors_phi))) - phi[j]


def tangential(x) -> float:
    """W1 with the arc-length cost between the angles of x (m, >=2) and the uniform circle."""
    t = np.sort(_angles(np.asarray(x, np.float64))) / _TWO_PI
    m = len(t)
    # F - t on the pieces [t_(j), t_(j+1)) is (j+1)/m - t: the a-minimiser is a median of the
    # function's values, the integral exact piecewise (a sorted-breakpoint sweep)
    knots = np.concatenate([[0.0], t, [1.0]])
    level = np.arange(m + 1) / m  # F on [knots_j, knots_j+1)
    lengths = np.diff(knots)

    def integral(a):
        # integral over each piece of |level - s - a| ds for s in [k0, k1]
        c0, c1 = level - knots[:-1] - a, level - knots[1:] - a  # value at both ends (decreasing)
        both_pos, both_neg = c1 >= 0, c0 <= 0
        mixed = ~(both_pos | both_neg)
        out = np.where(both_pos, (c0 + c1) / 2 * lengths, 0.0)
        out = np.where(both_neg, -(c0 + c1) / 2 * lengths, out)
        out = np.where(mixed, (c0**2 + c1**2) / 2, out)
        return float(np.sum(out))

    # the optimal a is a weighted median of F(s) - s over s in [0, 1)
    mids = level - (knots[:-1] + knots[1:]) / 2
    order = np.argsort(mids)
    cum = np.cumsum(lengths[order])
    a0 = float(mids[order][np.searchsorted(cum, 0.5)])
    best = min(integral(a0 + d) for d in np.linspace(-0.5 / m, 0.5 / m, 21))
    return _TWO_PI * best
