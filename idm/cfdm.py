r"""Smoothed closed-form diffusion model (sigma-CFDM), a training-free baseline.

Scarvelis, Saez de Ocariz Borde and Solomon, "Closed-Form Diffusion Models" (arXiv 2310.12395,
TMLR 2025). The definitions below were checked against the two unofficial ports
``kir0ul/CFDMs`` (``src/scores.py``, ``src/algorithms.py``) and
``kir0ul/closed-form-diffusion`` (``algo.py``), which agree with each other.

**The paper's model.** Time ``tau`` runs over ``[0, 1]`` with the linear interpolant
``z_tau = tau X + (1 - tau) xi`` (``tau = 1`` is data). For training points ``x_1..x_n`` the
closed-form score of the perturbed empirical measure is

.. math::

    \hat s(z, \tau) = \frac{k_\tau(z) - z}{(1-\tau)^2},\qquad
    k_\tau(z) = \sum_i \operatorname{softmax}_i\Big(-\frac{|z - \tau x_i|^2}{2(1-\tau)^2}\Big)
    \,\tau x_i,

and the *smoothed* score replaces ``k_tau(z)`` by its average over Gaussian perturbations of
the query with standard deviation ``sigma`` (the same ``sigma`` at every ``tau``):

.. math::

    s_\sigma(z, \tau) = \frac{\mathbb{E}_\varepsilon\, k_\tau(z + \sigma\varepsilon) - z}
    {(1-\tau)^2}
    \approx \frac{\frac1M\sum_{m=1}^M k_\tau(z + \sigma\varepsilon_m) - z}{(1-\tau)^2},
    \qquad \varepsilon_m \sim N(0, I).

In expectation this is ``E_eps[s_hat(z + sigma eps, tau)]`` (the closed-form score convolved
with ``N(0, sigma^2 I)``), since ``E eps = 0``; the Monte-Carlo estimator, as both ports write
it, subtracts the *unperturbed* ``z``, which drops the zero-mean term
``-sigma mean(eps) / (1 - tau)^2`` (it would blow up as ``tau -> 1``). Samples follow the
velocity ``v = (z + (1 - tau) s_sigma) / tau = (xbar - z) / (1 - tau)`` by Euler steps of
size ``h`` on a uniform ``tau`` grid, where ``xbar = (1/M) sum_m sum_i w_i(z + sigma eps_m) x_i``
is the smoothed denoiser. The "from T" variant starts at ``tau_start`` from an exact draw of
the Gaussian mixture ``tau x_I + (1 - tau) xi``; the last Euler step, from ``tau_end = 1 - h``
to ``tau = 1``, lands exactly on ``xbar(z, tau_end)`` (for any step length
``z + (1 - tau)(xbar - z) / (1 - tau) = xbar``). The port's defaults are ``h = 1/100``,
``tau_start = 0.95``, ``M = 2``, ``sigma`` of 0.3 to 0.4 on 2-D toy data.

**The map to our convention** (forward OU, ``Z_t = alpha_t X + sqrt(v_t) xi``,
``alpha_t = e^{-t}``, ``v_t = (1 - e^{-2t}) / 2``, see :mod:`idm.schedule`). The two
processes have the same law up to a time change and a scale: matching the signal-to-noise
ratio ``tau / (1 - tau) = alpha_t / sqrt(v_t)`` gives

.. math::

    \tau(t) = \frac{\alpha_t}{\alpha_t + \sqrt{v_t}},\qquad
    t(\tau) = \tfrac12 \log\Big(1 + 2\,\frac{(1-\tau)^2}{\tau^2}\Big),\qquad
    Z_t = c_t\, z_{\tau(t)},\quad c_t = \alpha_t + \sqrt{v_t},

with ``k_tau(z) = tau * D_t(c_t z)`` for our Tweedie denoiser ``D_t``
(:func:`idm.score.denoise`). So in our coordinates the smoothed denoiser and score are

.. math::

    \bar D_t(x) = \frac1M \sum_m D_t(x + \sigma c_t \varepsilon_m),\qquad
    \bar s_t(x) = \frac{\alpha_t \bar D_t(x) - x}{v_t} = s_\sigma(x / c_t, \tau(t)) / c_t,

i.e. the perturbation standard deviation in our coordinates is ``sigma * c_t``
(``c_t -> 1`` as ``t -> 0``, so ``sigma`` keeps its meaning in data units where the smoothing
acts). Their Euler step with a frozen denoiser is exact for the linear interpolant, so it is
the same map as our ``ode`` solver's data-prediction (DDIM-type) step

.. math::

    Z_{t'} = \alpha_{t'} \bar D_t(Z_t) + \sqrt{v_{t'} / v_t}\,(Z_t - \alpha_t \bar D_t(Z_t)),

and :func:`sample` reproduces the paper's sampler exactly (up to the scale ``c_t``) on the
grid uniform in ``tau`` (:func:`time_grid`), ending with the smoothed denoiser at ``t_end``
(the paper's final step to ``tau = 1``). Each ``sigma``-perturbed query is one row of the
streamed kernel :func:`idm.score.posterior_mean_and_score`; memory is
``O((m M + n) D + m M * block)``, never ``m x n x D``.

**One choice the sources leave open.** ``kir0ul/CFDMs`` draws the ``M`` perturbations once
per sample and keeps them along its trajectory; ``kir0ul/closed-form-diffusion`` draws fresh
ones at every step. :func:`sample` draws fresh ones per step by default
(``resample_perturbations=True``); ``False`` gives the other variant.
"""

import functools
import math

import jax
import jax.numpy as jnp

from idm import _steps, schedule
from idm._checks import concrete as _concrete
from idm._checks import count, positive, scalar, training_set
from idm.score import default_block_size, posterior_mean_and_score

__all__ = [
    "PAPER_TAU_START",
    "PAPER_TAU_END",
    "PAPER_STEPS",
    "to_paper_time",
    "from_paper_time",
    "paper_scale",
    "time_grid",
    "smoothed_posterior_mean_and_score",
    "integrate",
    "sample",
]

PAPER_TAU_START = 0.95
"""Start of the "from T" sampler in ``kir0ul/CFDMs`` (``T = 0.95``)."""
PAPER_TAU_END = 0.99
"""Last Euler evaluation ``1 - h`` for the port's ``S = 100`` steps on ``[0, 1]``."""
PAPER_STEPS = 4
"""Steps from ``PAPER_TAU_START`` to ``PAPER_TAU_END`` at ``h = 1/100``."""


def to_paper_time(t):
    """Paper time ``tau(t) = alpha_t / (alpha_t + sqrt(v_t))`` (same signal-to-noise ratio)."""
    a = schedule.alpha(t)
    return a / (a + jnp.sqrt(schedule.var(t)))


def from_paper_time(tau):
    """Our time ``t(tau) = log(1 + 2 (1 - tau)^2 / tau^2) / 2``, inverse of ``to_paper_time``."""
    tau = jnp.asarray(tau)
    return 0.5 * jnp.log1p(2.0 * jnp.square((1.0 - tau) / tau))


def paper_scale(t):
    """Scale ``c_t = alpha_t + sqrt(v_t)`` with ``Z_t = c_t z_tau`` (ours = c * paper's)."""
    return schedule.alpha(t) + jnp.sqrt(schedule.var(t))


def _paper_time_to_float(tau):
    """``from_paper_time`` on a Python float, in double precision and safe under tracing."""
    return 0.5 * math.log1p(2.0 * ((1.0 - tau) / tau) ** 2)


def _default_times(t_start, t_end):
    if t_start is None:
        t_start = _paper_time_to_float(PAPER_TAU_START)
    if t_end is None:
        t_end = _paper_time_to_float(PAPER_TAU_END)
    return t_start, t_end


def time_grid(t_start, t_end, steps):
    """Reverse grid ``t_start = t_0 > ... > t_steps = t_end``, uniform in paper time ``tau``.

    This is the paper's Euler grid ``tau_k = tau_start + k h``. ``t_start`` and ``t_end`` may
    be traced; ``steps`` is a Python int.

    Returns:
      Array of shape ``[steps + 1]`` (our time), with the end points exact.
    """
    t_start, t_end = jnp.asarray(t_start), jnp.asarray(t_end)
    tau0, tau1 = to_paper_time(t_start), to_paper_time(t_end)
    k = jnp.arange(steps + 1) / steps
    grid = from_paper_time(tau0 + k * (tau1 - tau0))
    return grid.at[0].set(t_start).at[-1].set(t_end)


def smoothed_posterior_mean_and_score(
    x, data, t, sigma, perturbations, *, block_size=None, precision="highest"
):
    r"""Smoothed denoiser and score at time ``t`` for explicit perturbations.

    ``mean = (1/M) sum_m D_t(x + sigma c_t eps_m)`` and
    ``score = (alpha_t mean - x) / v_t``, with ``D_t`` the Tweedie denoiser of
    :func:`idm.score.posterior_mean_and_score` and ``c_t = alpha_t + sqrt(v_t)`` (the paper's
    ``sigma`` in our coordinates, see the module docstring). With ``sigma = 0`` this is the
    plain empirical denoiser and score. The mean over ``m`` of
    ``idm.score.score(x + sigma c_t eps_m)`` equals ``score - sigma c_t mean(eps) / v_t``, so
    the two agree for antithetic perturbations.

    Args:
      x: query points, shape ``[D]`` or ``[m, D]``.
      data: training points, shape ``[n, D]``.
      t: our forward time (scalar, may be traced), ``t > 0``.
      sigma: the paper's smoothing standard deviation (scalar, may be traced), ``>= 0``.
      perturbations: standard normal draws ``eps``, shape ``[M, D]`` (the same for every query)
        or ``[m, M, D]`` (one set per query; ``[M, D]`` only when ``x`` is ``[D]``).
      block_size: training points per streamed block (default per backend).
      precision: matmul precision of the kernel.

    Returns:
      ``(mean, score)``, each with the shape of ``x``.
    """
    positive(sigma, "sigma", strict=False)
    data = jnp.asarray(data)
    x = jnp.asarray(x, data.dtype)
    eps = jnp.asarray(perturbations, data.dtype)
    single = x.ndim == 1
    xb = x[None] if single else x
    if eps.ndim == 2:
        eps = jnp.broadcast_to(eps[None], (xb.shape[0],) + eps.shape)
    if eps.ndim != 3 or eps.shape[0] != xb.shape[0] or eps.shape[2] != xb.shape[1]:
        raise ValueError(
            f"perturbations must have shape (M, D) or (m, M, D) for x of shape {x.shape}, "
            f"got {jnp.shape(perturbations)}"
        )
    m, M, D = eps.shape
    scale = (jnp.asarray(sigma) * paper_scale(t)).astype(data.dtype)
    queries = (xb[:, None, :] + scale * eps).reshape(m * M, D)
    mean, _ = posterior_mean_and_score(queries, data, t, block_size=block_size, precision=precision)
    mean = jnp.mean(mean.reshape(m, M, D), axis=1)
    a = schedule.alpha(t).astype(data.dtype)
    v = schedule.var(t).astype(data.dtype)
    s = (a * mean - xb) / v
    if single:
        return mean[0], s[0]
    return mean, s


def _step(z, eps, data, sigma, t, t_next, block_size, precision):
    """One paper Euler step (= our DDIM-type step) with the frozen smoothed denoiser."""
    mean, _ = smoothed_posterior_mean_and_score(
        z, data, t, sigma, eps, block_size=block_size, precision=precision
    )
    return _steps.ddim_step(z, mean, t, t_next).astype(z.dtype)


def _flow(z, data, sigma, grid, draw, block_size, precision):
    """Steps along ``grid`` then returns the smoothed denoiser at ``grid[-1]``."""
    steps = grid.shape[0] - 1

    def body(z, inputs):
        k, t, t_next = inputs
        return _step(z, draw(k), data, sigma, t, t_next, block_size, precision), None

    z, _ = jax.lax.scan(body, z, (jnp.arange(steps), grid[:-1], grid[1:]))
    mean, _ = smoothed_posterior_mean_and_score(
        z, data, grid[-1], sigma, draw(steps), block_size=block_size, precision=precision
    )
    return mean


@functools.partial(jax.jit, static_argnames=("block_size", "precision"))
def _integrate(z, data, sigma, perturbations, grid, block_size, precision):
    return _flow(z, data, sigma, grid, lambda k: perturbations[k], block_size, precision)


def integrate(
    z, data, *, sigma, perturbations, t_start=None, t_end=None, block_size=None, precision="highest"
):
    """The deterministic sigma-CFDM flow from given start points and perturbations.

    Runs ``steps = perturbations.shape[0] - 1`` steps on :func:`time_grid` from ``t_start`` to
    ``t_end``, then returns the smoothed denoiser at ``t_end`` (the paper's last step to
    ``tau = 1``). Step ``k`` uses ``perturbations[k]``. :func:`sample` is this with an exact
    mixture draw for ``z`` and perturbations drawn on the fly.

    Args:
      z: start points in our coordinates at time ``t_start``, shape ``[m, D]``.
      data: training points, shape ``[n, D]``.
      sigma: smoothing standard deviation (the paper's ``sigma``), ``>= 0``.
      perturbations: standard normal draws, shape ``[steps + 1, m, M, D]``.
      t_start: start time (ours); default ``t(PAPER_TAU_START)``.
      t_end: end time (ours); default ``t(PAPER_TAU_END)``.
      block_size: training points per streamed block.
      precision: matmul precision of the kernel.

    Returns:
      Samples, shape ``[m, D]``.
    """
    positive(sigma, "sigma", strict=False)
    data = jnp.asarray(data)
    z = jnp.asarray(z, data.dtype)
    eps = jnp.asarray(perturbations, data.dtype)
    if z.ndim != 2 or eps.ndim != 4 or eps.shape[1] != z.shape[0] or eps.shape[0] < 2:
        raise ValueError(
            f"need z of shape (m, D) and perturbations of shape (steps + 1, m, M, D) with "
            f"steps >= 1, got {z.shape} and {eps.shape}"
        )
    t_start, t_end = _default_times(t_start, t_end)
    grid = time_grid(t_start, t_end, eps.shape[0] - 1).astype(data.dtype)
    block = min(int(block_size or default_block_size()), data.shape[0])
    return _integrate(z, data, jnp.asarray(sigma, data.dtype), eps, grid, block, precision)


@functools.partial(
    jax.jit,
    static_argnames=(
        "num_samples",
        "steps",
        "num_perturbations",
        "resample_perturbations",
        "block_size",
        "precision",
    ),
)
def _sample(
    key,
    data,
    sigma,
    t_start,
    t_end,
    *,
    num_samples,
    steps,
    num_perturbations,
    resample_perturbations,
    block_size,
    precision,
):
    k_start, k_path = jax.random.fold_in(key, 0), jax.random.fold_in(key, 1)
    k_index, k_noise = jax.random.fold_in(k_start, 0), jax.random.fold_in(k_start, 1)
    z = _steps.noised(k_index, k_noise, data, num_samples, t_start)
    shape = (num_samples, num_perturbations, data.shape[1])

    def draw(k):
        kk = jax.random.fold_in(k_path, k) if resample_perturbations else k_path
        return jax.random.normal(kk, shape, data.dtype)

    grid = time_grid(t_start, t_end, steps).astype(data.dtype)
    return _flow(z, data, sigma, grid, draw, block_size, precision)


def sample(
    key,
    data,
    num_samples,
    *,
    sigma,
    steps=PAPER_STEPS,
    num_perturbations=2,
    t_start=None,
    t_end=None,
    resample_perturbations=True,
    block_size=None,
    precision="highest",
):
    """Draw sigma-CFDM samples (Scarvelis et al.'s "from T" sampler, in our coordinates).

    Starts from an exact draw of the empirical marginal at ``t_start``
    (``alpha x_I + sqrt(v) xi``), takes ``steps`` paper Euler steps with the smoothed score on
    the grid uniform in paper time (:func:`time_grid`), and returns the smoothed denoiser at
    ``t_end``; ``steps + 1`` kernel passes over ``M = num_perturbations`` perturbed copies of
    each sample. The defaults reproduce the port's ``T = 0.95``, ``h = 1/100``, ``M = 2``
    (``t_start = t(0.95) ~ 2.76e-3``, ``t_end = t(0.99) ~ 1.02e-4``, 4 steps).

    Args:
      key: a ``jax.random`` key; the start draw uses ``fold_in(key, 0)``, the perturbations
        ``fold_in(fold_in(key, 1), step)``.
      data: training points, shape ``[n, D]``, ``n >= 2``.
      num_samples: number of samples ``m``, an integer (a shape: concrete).
      sigma: smoothing standard deviation (the paper's ``sigma``, in data units near
        ``t = 0``), a scalar ``>= 0``; ``0`` gives the memorizing closed-form model. Traced:
        changing it does not recompile, and ``jit``, ``vmap`` and ``grad`` may run over it.
      steps: number of steps from ``t_start`` to ``t_end``, an integer ``>= 1``.
      num_perturbations: ``M``, perturbations per score evaluation, an integer ``>= 1``.
      t_start: start time (ours), traced; default ``t(PAPER_TAU_START)``.
      t_end: end time (ours), traced, ``0 < t_end < t_start``; default ``t(PAPER_TAU_END)``.
      resample_perturbations: draw fresh perturbations at every step (default) or keep one
        set per sample along its trajectory (as ``kir0ul/CFDMs`` does).
      block_size: training points per streamed block of the kernel.
      precision: matmul precision of the kernel (``"highest"`` default).

    Returns:
      Samples, shape ``[num_samples, D]``, in the dtype of ``data``.

    Raises:
      ValueError: for a count that is not an integer (``10.7``, ``True``) or below 1, a
        non-scalar ``sigma``, ``t_start`` or ``t_end`` (always), or concrete values outside
        ``sigma >= 0`` and ``t_start > t_end > 0``. Traced values are not checked.
    """
    data = training_set(data)
    num_samples = count(num_samples, "num_samples")
    steps = count(steps, "steps")
    num_perturbations = count(num_perturbations, "num_perturbations")
    positive(sigma, "sigma", strict=False)
    t_start, t_end = _default_times(t_start, t_end)
    positive(t_end, "t_end")
    scalar(t_start, "t_start")
    if _concrete(t_start) and _concrete(t_end) and not float(t_start) > float(t_end):
        raise ValueError(f"need t_start > t_end > 0, got t_start={t_start}, t_end={t_end}")
    dt = data.dtype
    return _sample(
        key,
        data,
        jnp.asarray(sigma, dt),
        jnp.asarray(t_start, dt),
        jnp.asarray(t_end, dt),
        num_samples=num_samples,
        steps=steps,
        num_perturbations=num_perturbations,
        resample_perturbations=bool(resample_perturbations),
        block_size=min(int(block_size or default_block_size()), data.shape[0]),
        precision=precision,
    )
