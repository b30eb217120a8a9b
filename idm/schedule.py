r"""The forward Ornstein-Uhlenbeck process and the IDM bandwidth rule.

Forward process (unit noise): ``dX = -X dt + dW``, so that

.. math::

    X_t = \alpha_t X_0 + \sqrt{v_t}\, \xi, \qquad \alpha_t = e^{-t},
    \qquad v_t = \frac{1 - e^{-2t}}{2},

with stationary law ``N(0, I/2)``. With unit noise the paper's inertia step
``e^{s}(x + s * score_s(x))`` is the Tweedie posterior mean up to ``O(s^2)``
(``v_s = s - s^2 + O(s^3)``).
"""

import jax.numpy as jnp
import numpy as np

from idm._checks import concrete, count, positive, scalar

__all__ = ["alpha", "var", "bandwidth", "length_scale", "time_grid", "to_unit_scale"]


def alpha(t):
    """Signal scale ``alpha_t = exp(-t)``."""
    return jnp.exp(-jnp.asarray(t))


def var(t):
    """Noise variance ``v_t = (1 - exp(-2t)) / 2``, computed as ``-expm1(-2t) / 2``.

    The naive form loses 40% relative accuracy at ``t = 1e-7`` in float32.
    """
    return -jnp.expm1(-2.0 * jnp.asarray(t)) / 2.0


def length_scale(data):
    r"""The data's length scale: the root-mean-square distance to their mean.

    :math:`\sqrt{\frac1n\sum_i |x_i - \bar x|^2}`, the total spread (Silverman's rule scales
    a kernel bandwidth by the spread the same way). It is 1 for the uniform law on a unit
    sphere (every point at distance 1 from the centre): the paper's rule
    ``sigma = c n^(-1/(d+4))`` is the rule at scale 1. The forward process has a length
    scale of its own (its stationary law is N(0, I/2)), so data of another scale are
    sampled in the coordinates ``(x - mean) / scale`` and mapped back (:func:`idm.sample`
    with ``scale``), which makes the whole sampler equivariant: scale the data, and sigma
    and the samples scale with them.

    Args:
      data: points, shape ``[n, D]``.

    Returns:
      For concrete ``data``, a Python float computed in float64 on the host; for traced
      ``data`` (under ``jit``, ``vmap`` or ``grad``), a JAX scalar in the data's floating
      dtype, differentiable. Both evaluate the same expression (:func:`_rms_spread`).
    """
    if concrete(data):
        return float(_rms_spread(np.asarray(data, np.float64), np))
    x = jnp.asarray(data)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(jnp.zeros(()).dtype)
    return _rms_spread(x, jnp)


def _rms_spread(x, xp):
    """``sqrt(mean_i |x_i - mean(x)|^2)`` in the array module ``xp`` (numpy or jax.numpy)."""
    return xp.sqrt(xp.mean(xp.sum((x - xp.mean(x, axis=0, keepdims=True)) ** 2, axis=1)))


def to_unit_scale(data, scale):
    """``((data - mean) / scale, mean)``: the coordinates the sampler runs in at this scale.

    See :func:`length_scale`; :func:`idm.sample` with ``scale`` and
    :func:`idm.bandwidth.select_c` both work there.
    """
    centre = jnp.mean(data, axis=0, keepdims=True)
    return (data - centre) / scale, centre


def bandwidth(n, d, c=1.0, scale=1.0):
    """IDM bandwidth ``sigma = c * scale * n^(-1/(d+4))``; the stopping time is ``s = sigma^2``.

    Args:
      n: number of training points, an integer >= 2 (it is a shape, so it is concrete).
      d: intrinsic dimension of the data manifold (>= 1); may be traced.
      c: positive constant; may be traced (``jit``, ``vmap`` or ``grad`` over it).
      scale: the data's length scale (``idm.bandwidth.length_scale``: 1 for a unit sphere, the
        rule of the paper's experiments); may be traced.

    Returns:
      ``sigma``: a Python float for Python inputs (so it can be passed as a traced argument
      without recompiling), a JAX scalar when ``d``, ``c`` or ``scale`` is a JAX array.

    Raises:
      ValueError: for a non-integer ``n`` or ``n < 2``, or for a concrete ``d < 1``,
        ``c <= 0`` or ``scale <= 0`` (NaN included). Traced values are not checked.
    """
    n = count(n, "n", minimum=2)
    if d is None:
        raise ValueError("the intrinsic dimension d must be >= 1, got d=None")
    scalar(d, "d")
    if concrete(d) and not float(d) >= 1:
        raise ValueError(f"the intrinsic dimension d must be >= 1, got d={d}")
    positive(c, "c")
    positive(scale, "scale")
    return c * scale * float(n) ** (-1.0 / (d + 4))


def time_grid(T, t_end, steps):
    """Geometric reverse-time grid ``T = t_0 > t_1 > ... > t_steps = t_end``.

    ``t_k = T * (t_end / T)^(k / steps)``. ``T`` and ``t_end`` may be traced; ``steps`` is a
    Python int (it fixes the shape).

    Returns:
      Array of shape ``[steps + 1]``.
    """
    k = jnp.arange(steps + 1) / steps
    T = jnp.asarray(T)
    return T * jnp.exp(k * jnp.log(jnp.asarray(t_end) / T))
