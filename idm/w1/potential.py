r"""The c-transform of a potential on anchors: a 1-Lipschitz function, and its mean over points.

For any values :math:`\psi_k` on anchor points :math:`a_k`, :math:`f(z) = \min_k |z - a_k| - \psi_k`
is 1-Lipschitz, so :math:`\mathbb{E}_\mu f - \mathbb{E}_\nu f \le W_1(\mu, \nu)`
(Kantorovich-Rubinstein): every dual lower bound of :mod:`idm.w1.law` and :mod:`idm.w1.sphere`
is a difference of two such means, computed here with a float32 allowance that keeps it a bound.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["c_transform_mean"]


@functools.partial(jax.jit, static_argnames=("block",))
def _c_transform_sum(z, anchors, psi, block):
    def one(zq):
        d = jnp.sqrt(jnp.sum((zq[None, :] - anchors) ** 2, axis=-1)) - psi
        return jnp.min(d)

    return jnp.sum(jax.lax.map(one, z, batch_size=block).astype(jnp.float64))


def c_transform_mean(points, anchors, psi, *, block: int = 256, side: str = "exact") -> float:
    r"""Mean over ``points`` of :math:`f(z) = \min_k |z - a_k| - \psi_k` (every anchor).

    The pairs are computed in float32 (twice the float64 rate here) on points centred at the
    anchors' mean; each f(z) is then within :math:`8\epsilon_{32} S` of its exact value,
    :math:`S = \max|z| + \max|a| + \max|\psi|` (a few roundings of numbers below S), and
    ``side`` moves the mean by that allowance: ``"low"`` returns a value below the exact mean,
    ``"high"`` one above (``"exact"``: no allowance), so a bound built from it stays a bound.
    """
    z = np.asarray(points, np.float64)
    a = np.asarray(anchors, np.float64)
    p = np.asarray(psi, np.float64)
    centre = a.mean(axis=0)
    z, a = z - centre, a - centre
    shift = float(np.mean(p))
    p = p - shift
    scale = float(np.abs(z).max() * np.sqrt(z.shape[1]) + np.abs(a).max() * np.sqrt(a.shape[1]))
    scale += float(np.abs(p).max())
    allowance = 8 * float(np.finfo(np.float32).eps) * scale
    total = _c_transform_sum(
        jnp.asarray(z, jnp.float32), jnp.asarray(a, jnp.float32), jnp.asarray(p, jnp.float32),
        min(block, len(z)),
    )  # fmt: skip
    mean = float(total) / len(z) - shift
    return mean - allowance if side == "low" else mean + allowance if side == "high" else mean
