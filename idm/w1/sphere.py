r"""A lower bound on W1 against the uniform sphere that adds the tangential part to the radial one.

The radial bound :math:`\mathbb{E}_\mu |1 - |X||` (the distance to the sphere) ignores how the
law's directions :math:`U = X/|X|` are spread over :math:`S^d`; a potential of the tangential
problem alone ignores the radial gap. For points near the sphere the two add in quadrature,
and a Kantorovich pair says so exactly. For :math:`x = \rho u` (:math:`|u| = 1`) and
:math:`y \in S^d`,

.. math:: |x - y|^2 = (1 - \rho)^2 + \rho\, |u - y|^2 .

Let f be 1-Lipschitz (here the c-transform :math:`f(u) = \min_k |u - a_k| - v_k` of a potential
v on anchors :math:`a_k`) and :math:`b \ge 0`. With :math:`t = |u - y| \in [0, 2]`,

.. math::
    \phi(x) = \Phi_b(x) + b f(u), \qquad \psi(y) = -b f(y), \qquad
    \Phi_b(x) = \min_{t \in [0, 2]} \sqrt{(1 - \rho)^2 + \rho t^2} - b t,

satisfy :math:`\phi(x) + \psi(y) \le \Phi_b(x) + b t \le |x - y|`, so

.. math:: W_1(\mu, \nu) \ge \mathbb{E}_\mu \Phi_b(X) + b\,(\mathbb{E}_\mu f(U) - \mathbb{E}_\nu f),

for every b and f (:func:`lower`). The minimum is closed-form (:func:`radial_tangential`):
:math:`\Phi_b = |1 - \rho| \sqrt{1 - b^2/\rho}` at the stationary point
:math:`t^* = b|1-\rho| / \sqrt{\rho(\rho - b^2)}` when :math:`\rho > b^2` and
:math:`t^* \le 2`, else the end point :math:`\sqrt{(1-\rho)^2 + 4\rho} - 2b`. At b = 0 it is the
radial bound; for a radial gap r and a tangential gain T the best b gives about
:math:`\sqrt{r^2 + T^2}`.

The potential (:func:`tangential_potential`) comes from a coarse problem: the law's directions
smoothed onto K anchors (a Gaussian kernel as wide as the anchors' spacing), against the uniform
weights that the same smoothing gives the uniform law, solved exactly (network simplex); its
dual on the anchors carries the large-scale imbalance without the m-point quantisation noise
that the dual of a fine problem fits. Fitted on one set of draws and evaluated on independent
ones, the bound is unbiased; b is chosen on the fitting draws (:func:`best_b`). Measured on
S^2 (IDM, n = 10^5): radial 0.02201, this bound 0.02271 (b = 0.24); n = 10^3: 0.1097 -> 0.1206.
"""

from __future__ import annotations

import math

import numpy as np

from idm.w1.exact import pot_cost
from idm.w1.potential import c_transform_mean

__all__ = [
    "best_b",
    "law_side",
    "lower",
    "population_side",
    "radial_tangential",
    "sphere_volume",
    "tangential_potential",
]


def sphere_volume(d: int) -> float:
    r"""Surface area of the unit sphere :math:`S^d \subset R^{d+1}`."""
    return 2 * math.pi ** ((d + 1) / 2) / math.gamma((d + 1) / 2)


def radial_tangential(x, b: float) -> np.ndarray:
    r"""(m,) :math:`\Phi_b(x) = \min_{t \in [0,2]} \sqrt{(1-\rho)^2 + \rho t^2} - b t`, float64.

    A float64 allowance of a few roundings is subtracted, so each value stays below the exact
    minimum (the bound built from it stays a bound).
    """
    x = np.asarray(x, np.float64)
    rho = np.linalg.norm(x, axis=1)
    r = np.abs(1.0 - rho)
    b = float(b)
    if b < 0:
        raise ValueError(f"b must be >= 0, got {b}")
    inner = rho > b * b
    with np.errstate(divide="ignore", invalid="ignore"):
        t_star = np.where(inner, b * r / np.sqrt(rho * np.where(inner, rho - b * b, 1.0)), np.inf)
        stationary = r * np.sqrt(np.where(inner, 1.0 - b * b / rho, 0.0))
    end = np.sqrt(r * r + 4.0 * rho) - 2.0 * b
    value = np.where(t_star <= 2.0, stationary, end)
    return value - 16 * np.finfo(np.float64).eps * (r + 2.0 * rho + 2.0 * b + 1.0)


def _directions(x) -> np.ndarray:
    x = np.asarray(x, np.float64)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def tangential_potential(law_points, anchors, d: int) -> np.ndarray:
    """(K,) a potential on ``anchors`` (points of S^d) for the law's directions against uniform.

    The law's directions are smoothed onto the anchors by a Gaussian kernel of width the
    anchors' spacing :math:`(|S^d| / K)^{1/d}`; the uniform law's smoothed weights are equal at
    every anchor (rotation invariance). The dual on the uniform side of the exact OT between
    the two weightings (chordal cost) is returned.
    """
    import ot
    from scipy.spatial import cKDTree

    u = _directions(law_points)
    a = np.asarray(anchors, np.float64)
    k = len(a)
    s = (sphere_volume(d) / k) ** (1.0 / d)
    near = cKDTree(a).sparse_distance_matrix(cKDTree(u), 4 * s, output_type="coo_matrix")
    p = np.bincount(near.row, weights=np.exp(-(near.data**2) / (2 * s * s)), minlength=k)
    p = p / p.sum()
    q = np.full(k, 1.0 / k)
    _, log = ot.emd2(p, q, pot_cost(a, a), numItermax=10**9, log=True)
    return np.asarray(log["v"], np.float64)


def best_b(law_points, population_points, anchors, potential, grid: int = 96) -> float:
    """The b in [0, 0.95] that maximises the bound on the given (fitting) points."""
    gain = c_transform_mean(_directions(law_points), anchors, potential) - c_transform_mean(
        population_points, anchors, potential
    )
    bs = np.linspace(0.0, 0.95, grid)
    values = [np.mean(radial_tangential(law_points, b)) + b * gain for b in bs]
    return float(bs[int(np.argmax(values))])


def law_side(law_points, anchors, potential, b: float) -> float:
    r""":math:`\mathbb{E}_\mu [\Phi_b(X) + b f(X/|X|)]` over the law's points, on the low side."""
    b = float(b)
    value = float(np.mean(radial_tangential(law_points, b)))
    if b > 0.0:
        value += b * c_transform_mean(_directions(law_points), anchors, potential, side="low")
    return value


def population_side(population_points, anchors, potential, b: float) -> float:
    r""":math:`b\, \mathbb{E}_\nu f` over population points, on the high side."""
    b = float(b)
    if b == 0.0:
        return 0.0
    return b * c_transform_mean(population_points, anchors, potential, side="high")


def lower(law_points, population_points, anchors, potential, b: float) -> float:
    r""":math:`\mathbb{E}_\mu \Phi_b + b (\mathbb{E}_\mu f(U) - \mathbb{E}_\nu f)` on these points.

    With ``law_points`` and ``population_points`` drawn independently of the potential and of
    b, an unbiased estimate of a lower bound on W1 (its float32 c-transforms moved by their
    allowances to the low side).
    """
    return law_side(law_points, anchors, potential, b) - population_side(
        population_points, anchors, potential, b
    )
