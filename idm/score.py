r"""Exact score and Tweedie denoiser of the Gaussian-smoothed empirical measure.

For training points ``x_1..x_n`` the forward marginal at time ``t`` is

.. math::

    \hat p_t(x) = \frac1n \sum_i N(x;\, \alpha_t x_i,\, v_t I),

whose posterior weights, denoiser and score are

.. math::

    w_i(x) = \operatorname{softmax}_i\Big(-\frac{|x - \alpha_t x_i|^2}{2 v_t}\Big),\quad
    E[X_0 \mid X_t = x] = \sum_i w_i x_i,\quad
    \nabla \log \hat p_t(x) = \frac{\alpha_t \sum_i w_i x_i - x}{v_t}.

This is attention with query ``x``, keys ``alpha_t x_i`` and values ``x_i``. It is computed
in the GEMM form ``logit_i = (alpha x.x_i - alpha^2 |x_i|^2 / 2) / v`` (the ``|x|^2`` term
cancels in the softmax), streaming over blocks of training points with an online
log-sum-exp, so memory is ``O((m + n) D + m * block)`` and no ``m x n x D`` array exists.
"""

import functools

import jax
import jax.numpy as jnp

from idm import schedule
from idm._backend import backend_block
from idm._checks import positive

__all__ = ["PRECISIONS", "score", "denoise", "posterior_mean_and_score", "default_block_size"]

_PRECISIONS = {
    "highest": jax.lax.Precision.HIGHEST,
    "high": jax.lax.Precision.HIGH,
    "default": jax.lax.Precision.DEFAULT,
}
#: The matmul precisions the kernel accepts.
PRECISIONS = tuple(_PRECISIONS)


def default_block_size() -> int:
    """Training points per streamed block, chosen per backend."""
    return backend_block(256, 4096)


def _precision(precision):
    try:
        return _PRECISIONS[precision]
    except KeyError:
        raise ValueError(
            f"precision must be one of {sorted(_PRECISIONS)}, got {precision!r}"
        ) from None


@functools.partial(jax.jit, static_argnames=("block_size", "precision"))
def _posterior_mean(x, data, t, block_size, precision):
    """Posterior mean ``sum_i w_i x_i`` for a batch ``x`` of shape ``[m, D]``.

    The scale ``alpha / v`` is folded into the queries and ``-alpha^2 |x_i|^2 / (2 v)`` into a
    per-point bias, so each block costs one GEMM, one fused exp pass and one GEMM. Padding rows
    get bias ``-inf`` (weight exactly 0), so no mask pass is needed.
    """
    prec = _precision(precision)
    n, D = data.shape
    m = x.shape[0]
    a = schedule.alpha(t).astype(x.dtype)
    v = schedule.var(t).astype(x.dtype)
    q = x * (a / v)
    bias = (-0.5 * a * a / v) * jnp.sum(data * data, axis=-1)
    num_blocks = -(-n // block_size)
    pad = num_blocks * block_size - n
    blocks = jnp.pad(data, ((0, pad), (0, 0))).reshape(num_blocks, block_size, D)
    biases = jnp.pad(bias, (0, pad), constant_values=-jnp.inf).reshape(num_blocks, block_size)

    def body(carry, inputs):
        run_max, run_sum, acc = carry
        xb, bb = inputs
        logits = jnp.matmul(q, xb.T, precision=prec) + bb[None, :]
        new_max = jnp.maximum(run_max, jnp.max(logits, axis=-1))
        scale = jnp.exp(run_max - new_max)
        p = jnp.exp(logits - new_max[:, None])
        run_sum = run_sum * scale + jnp.sum(p, axis=-1)
        acc = acc * scale[:, None] + jnp.matmul(p, xb, precision=prec)
        return (new_max, run_sum, acc), None

    init = (
        jnp.full((m,), -jnp.inf, x.dtype),
        jnp.zeros((m,), x.dtype),
        jnp.zeros((m, D), x.dtype),
    )
    (_, run_sum, acc), _ = jax.lax.scan(body, init, (blocks, biases))
    return acc / run_sum[:, None]


def _check(x, data, t):
    positive(t, "t")
    data = jnp.asarray(data)
    x = jnp.asarray(x, dtype=data.dtype)
    if data.ndim != 2 or data.shape[0] < 1 or data.shape[1] < 1:
        raise ValueError(f"data must have shape (n, D) with n >= 1 and D >= 1, got {data.shape}")
    if x.ndim not in (1, 2) or x.shape[-1] != data.shape[1]:
        raise ValueError(f"x must have shape (D,) or (m, D) with D={data.shape[1]}, got {x.shape}")
    return x, data


def posterior_mean_and_score(x, data, t, *, block_size=None, precision="highest"):
    """Tweedie denoiser and score at time ``t`` from one pass over the training set.

    Args:
      x: query points, shape ``[D]`` or ``[m, D]``.
      data: training points, shape ``[n, D]``.
      t: forward time, a scalar ``> 0``; may be traced (``jit``, ``vmap``, ``grad``).
      block_size: training points per streamed block (default per backend).
      precision: matmul precision, ``"highest"`` (default), ``"high"`` or ``"default"``.

    Returns:
      ``(mean, score)``, each with the shape of ``x``.

    Raises:
      ValueError: for a ``t`` that is not a scalar (always: shapes are known under ``jit``), or
        a concrete ``t <= 0`` or NaN. A traced ``t`` is not checked (its value is unknown when
        the function is traced): there ``t = 0`` gives NaN (``0 / 0`` in the weights) and
        ``t < 0`` finite values of no meaning (a negative noise variance).
    """
    x, data = _check(x, data, t)
    block_size = int(block_size or default_block_size())
    block_size = min(block_size, data.shape[0])
    xb = x[None] if x.ndim == 1 else x
    mean = _posterior_mean(xb, data, t, block_size, precision)
    s = (schedule.alpha(t).astype(xb.dtype) * mean - xb) / schedule.var(t).astype(xb.dtype)
    if x.ndim == 1:
        return mean[0], s[0]
    return mean, s


def denoise(x, data, t, *, block_size=None, precision="highest"):
    """Tweedie posterior mean ``E[X_0 | X_t = x] = sum_i w_i x_i = (x + v_t score) / alpha_t``.

    Shapes, the checks on ``t`` and what a traced ``t <= 0`` gives: as in
    :func:`posterior_mean_and_score`.
    """
    return posterior_mean_and_score(x, data, t, block_size=block_size, precision=precision)[0]


def score(x, data, t, *, block_size=None, precision="highest"):
    """Exact score ``grad_x log p_t(x)`` of the smoothed empirical measure.

    Shapes, the checks on ``t`` and what a traced ``t <= 0`` gives: as in
    :func:`posterior_mean_and_score`.
    """
    return posterior_mean_and_score(x, data, t, block_size=block_size, precision=precision)[1]
