"""The pieces every sampler of the empirical marginal shares, each written once.

* :func:`noised`: the exact draw of ``p_t = (1/n) sum_i N(alpha_t x_i, v_t I)``, the start of
  the reverse process (:mod:`idm.samplers`, :mod:`idm.cfdm`) and the whole of the ``exact``
  solver. (:mod:`idm.qmc` draws the same law from stratified indices and Sobol noise, in NumPy.)
* :func:`ddim_step` and :func:`bridge_step`: one step ``t -> t'`` of the reverse process with
  the denoiser ``xhat = E[X_0 | Z_t]`` frozen and the linear dynamics solved exactly (the
  DDIM-type probability-flow step and the DDPM-type Gaussian bridge of the reverse SDE). The
  sigma-CFDM Euler step is the same map as :func:`ddim_step`.

``t`` and ``t'`` are in the dtype of ``z`` (the callers cast their time grids).
"""

import jax
import jax.numpy as jnp

from idm import schedule


def noised(k_index, k_noise, data, num_samples, t):
    """Exact draw from ``p_t``: ``alpha_t x_I + sqrt(v_t) xi`` with ``I`` uniform, ``xi ~ N(0, I)``.

    ``k_index`` draws the indices, ``k_noise`` the noise; the result has the dtype of ``data``.
    """
    idx = jax.random.randint(k_index, (num_samples,), 0, data.shape[0])
    xi = jax.random.normal(k_noise, (num_samples, data.shape[1]), data.dtype)
    return (
        schedule.alpha(t).astype(data.dtype) * data[idx]
        + jnp.sqrt(schedule.var(t).astype(data.dtype)) * xi
    )


def ddim_step(z, xhat, t, t_next):
    """Probability flow ``dZ/ds = Z + score / 2`` from ``t`` to ``t_next`` with ``xhat`` frozen.

    ``Z' = alpha_t' xhat + sqrt(v_t' / v_t) (Z - alpha_t xhat)``.
    """
    a_next, v_next, v_t = schedule.alpha(t_next), schedule.var(t_next), schedule.var(t)
    return a_next * xhat + jnp.sqrt(v_next / v_t) * (z - schedule.alpha(t) * xhat)


def bridge_step(key, z, xhat, t, t_next):
    """Reverse SDE ``dZ = [Z + score] ds + dB`` from ``t`` to ``t_next`` with ``xhat`` frozen.

    The exact Gaussian bridge ``Z' ~ N((v_h / v_t) alpha_t' xhat + (alpha_h v_t' / v_t) Z,
    v_t' v_h / v_t)``, ``h = t - t'``, its noise drawn from ``key``.
    """
    a_next, v_next, v_t = schedule.alpha(t_next), schedule.var(t_next), schedule.var(t)
    h = t - t_next
    v_h = schedule.var(h)
    xi = jax.random.normal(key, z.shape, z.dtype)
    mean = (v_h / v_t) * a_next * xhat + (schedule.alpha(h) * v_next / v_t) * z
    return mean + jnp.sqrt(v_next * v_h / v_t) * xi
