"""Reverse-process samplers for the empirical diffusion model and the IDM inertia step.

Methods (``method=``):

* ``idm``: run the reverse process from ``T`` down to ``s = sigma^2``, then one inertia step.
  ``inertia="tweedie"`` (default) is the exact posterior mean ``(x + v_s score_s(x)) / alpha_s``;
  ``inertia="paper"`` is the step as the paper writes it, ``e^{s} (x + s score_s(x))``, equal
  to first order (``v_s = s - s^2 + O(s^3)``).
* ``dm``: the plain empirical DM to ``t_end`` (default ``1e-6``), returning the denoised mean at
  ``t_end`` as the usual last sampler step. Its outputs are training points up to rounding.
* ``early_stop``: stop at ``sigma^2`` with no inertia step.
* ``kde``: ambient Gaussian KDE ``x_I + sigma xi``.
* ``train``: the training set itself (a uniform draw without replacement).
* ``cfdm``: the smoothed closed-form diffusion model of Scarvelis, Borde and Solomon
  (sigma-CFDM, :mod:`idm.cfdm`), a training-free baseline that smooths the score instead of
  stopping early; its smoothing scale is ``sigma``.
* ``trained``: a trained score network (:mod:`idm.trained`, passed as ``model=``) in place of
  the empirical score, run by the same solvers down to the model's ``t_min`` and returning the
  denoised mean there (as ``dm`` does); ``solver="exact"`` does not apply to it.

Solvers (``solver=``), on a geometric time grid from ``T`` to the stopping time. Both
iterative solvers are exponential integrators in the data-prediction form: over a step
``t -> t' = t - h`` the denoiser ``xhat = E[X_0 | Z_t]`` is frozen and the linear dynamics are
solved exactly (a plain frozen-score step is unstable at the large early steps of a geometric
grid):

* ``sde``: reverse SDE ``dZ = [Z + score] ds + dB``; its frozen-denoiser solution is the exact
  Gaussian bridge ``Z' ~ N((v_h / v_t) alpha_t' xhat + (alpha_h v_t' / v_t) Z,
  v_t' v_h / v_t)`` (the ancestral, DDPM-type step).
* ``ode``: probability flow ``dZ/ds = Z + score / 2``; frozen-denoiser solution
  ``Z' = alpha_t' xhat + sqrt(v_t' / v_t) (Z - alpha_t xhat)`` (the DDIM-type step).
* ``exact``: draw ``Z ~ p_stop`` directly as ``alpha x_I + sqrt(v) xi``, the infinite-step limit of
  both (the oracle for testing them, and the fast path for sweeps).

Both iterative solvers start from an exact draw of ``p_T`` (known in closed form), so their only
error is the time discretisation. The draw and the steps are :mod:`idm._steps`'s.

Scale. With a ``scale`` other than 1 the sampler runs on ``(data - mean) / scale`` and maps
its samples back, with ``sigma = c * scale * n^(-1/(d+4))``: the forward process's own scale
(its stationary law N(0, I/2)) no longer meets the data's, and scaling the data scales sigma
and the samples with it. ``scale="data"`` is computed in ``jnp`` when the data are traced
(``data`` passed as an argument of a caller's ``jit``).

Checks. Traced values are not checked (their values are unknown when the sampler is traced,
and are never turned into a Python bool): a traced ``sigma`` (or ``c``) of 0 gives NaN
samples, a negative one the samples of its absolute value.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from idm import _steps, cfdm, schedule, trained
from idm._checks import check_finite_rows, count, positive, scalar, training_set
from idm._checks import concrete as _concrete
from idm.score import default_block_size, posterior_mean_and_score

__all__ = [
    "BANDWIDTH_METHODS",
    "DM_END_TIME",
    "INERTIAS",
    "METHODS",
    "NonFiniteSamples",
    "SOLVERS",
    "sample",
]

#: Every method; the order fixes the per-method PRNG stream of the experiments: append only.
METHODS = ("idm", "dm", "early_stop", "kde", "train", "cfdm", "trained")
#: The methods whose samples depend on the bandwidth sigma (the others ignore it).
BANDWIDTH_METHODS = ("idm", "early_stop", "kde", "cfdm")
SOLVERS = ("sde", "ode", "exact")
INERTIAS = ("tweedie", "paper")
DM_END_TIME = 1e-6


class NonFiniteSamples(FloatingPointError):
    """The sampler produced NaN or infinite values; the message says at which step and time."""


def _all_finite(z):
    return jnp.all(jnp.isfinite(z))


def _reverse(key, z, denoise, T, t_stop, *, solver, steps):
    """Integrate the reverse process from ``T`` to ``t_stop`` starting at ``z``.

    ``denoise(z, t)`` is the posterior mean ``E[X_0 | Z_t = z]`` the solver freezes over a step
    (the empirical one, or a trained network's).

    Returns the end point and the index of the first step whose result was not finite (-1 if
    none): one reduction per step, negligible beside the step's score evaluation.
    """
    grid = schedule.time_grid(T, t_stop, steps).astype(z.dtype)

    def body(carry, inputs):
        z, fault = carry
        i, t, t_next = inputs
        xhat = denoise(z, t)
        if solver == "sde":
            z = _steps.bridge_step(jax.random.fold_in(key, i), z, xhat, t, t_next)
        else:
            z = _steps.ddim_step(z, xhat, t, t_next)
        fault = jnp.where((fault < 0) & ~_all_finite(z), i, fault)
        return (z, fault), None

    init = (z, jnp.asarray(-1, jnp.int32))
    (z, fault), _ = jax.lax.scan(
        body, init, (jnp.arange(steps, dtype=jnp.int32), grid[:-1], grid[1:])
    )
    return z, fault


def _noised(key, data, num_samples, t):
    """Exact draw from ``p_t`` (:func:`idm._steps.noised`), its two keys split from ``key``."""
    k_index, k_noise = jax.random.split(key)
    return _steps.noised(k_index, k_noise, data, num_samples, t)


def _direct(k_start, k_path, data, sigma, *, num_samples, method, block_size, precision):
    """The methods drawn without the reverse process: ``cfdm``, ``train`` and ``kde``."""
    if method == "cfdm":
        return cfdm.sample(
            k_start, data, num_samples, sigma=sigma, block_size=block_size, precision=precision
        )
    n = data.shape[0]
    if method == "train":
        if num_samples <= n:
            return data[jax.random.permutation(k_start, n)[:num_samples]]
        return data[jax.random.randint(k_start, (num_samples,), 0, n)]
    return _noised(k_start, data, num_samples, 0.0) + sigma * jax.random.normal(
        k_path, (num_samples, data.shape[1]), data.dtype
    )


def _denoiser(data, model, *, method, block_size, precision):
    """``denoise(z, t)``: the posterior mean the reverse process freezes over a step."""
    if method == "trained":
        return lambda z, t: trained.denoise(model, z, t)

    def denoise(z, t):
        mean, _ = posterior_mean_and_score(z, data, t, block_size=block_size, precision=precision)
        return mean

    return denoise


def _final(z, data, t_stop, denoise, *, method, inertia, block_size, precision):
    """The last step at ``t_stop``: none (``early_stop``), the inertia step or the denoiser."""
    if method == "early_stop":
        return z
    if method == "trained":
        return denoise(z, t_stop)
    mean, sc = posterior_mean_and_score(z, data, t_stop, block_size=block_size, precision=precision)
    if method == "idm" and inertia == "paper":
        return jnp.exp(t_stop) * (z + t_stop * sc)
    return mean


@functools.partial(
    jax.jit,
    static_argnames=(
        "num_samples",
        "method",
        "solver",
        "steps",
        "inertia",
        "block_size",
        "precision",
        "sharding",
    ),
)
def _sample(
    key,
    data,
    sigma,
    T,
    t_end,
    model,
    *,
    num_samples,
    method,
    solver,
    steps,
    inertia,
    block_size,
    precision,
    sharding,
):
    """``(samples, fault)``, ``fault`` where the first non-finite value appeared.

    -1 when every value is finite, -2 the start draw, k in [0, steps) reverse step k, steps
    the final (inertia / denoising) step.
    """

    def shard(z):
        return z if sharding is None else jax.lax.with_sharding_constraint(z, sharding)

    k_start, k_path = jax.random.fold_in(key, 0), jax.random.fold_in(key, 1)
    ok = jnp.asarray(-1, jnp.int32)
    kernel = dict(block_size=block_size, precision=precision)
    if method in ("cfdm", "train", "kde"):
        x = _direct(k_start, k_path, data, sigma, num_samples=num_samples, method=method, **kernel)
        if method == "train":  # training points: finite
            return x, ok
        return shard(x), jnp.where(_all_finite(x), ok, steps)
    if method == "trained":
        t_stop = jnp.asarray(model.t_min, data.dtype)
    else:
        t_stop = t_end if method == "dm" else sigma**2
    denoise = _denoiser(data, model, method=method, **kernel)
    fault = ok
    if solver == "exact":
        z = shard(_noised(k_start, data, num_samples, t_stop))
    else:
        z = shard(_noised(k_start, data, num_samples, T))
        fault = jnp.where(_all_finite(z), ok, -2)
        z, reverse_fault = _reverse(k_path, z, denoise, T, t_stop, solver=solver, steps=steps)
        fault = jnp.where(fault < 0, reverse_fault, fault)
    x = _final(z, data, t_stop, denoise, method=method, inertia=inertia, **kernel)
    last = jnp.where(_all_finite(x), ok, steps)
    return shard(x), jnp.where(fault < 0, last, fault)


# fmt: off
def sample(key, data, num_samples, *, method="idm", d=None, sigma=None, c=1.0, solver="sde",
           steps=100, T=8.0, inertia="tweedie", t_end=DM_END_TIME, block_size=None,
           precision="highest", shard=None, check_finite=True, scale=1.0, model=None):
    # fmt: on
    """Draw samples from IDM or one of its baselines, using only the empirical score.

    Args:
      key: a ``jax.random`` key.
      data: training points, shape ``[n, D]``.
      num_samples: number of samples ``m``, an integer >= 1 (a shape: concrete).
      method: one of ``"idm", "dm", "early_stop", "kde", "train", "cfdm", "trained"``.
      d: intrinsic dimension, for the bandwidth rule ``sigma = c * n^(-1/(d+4))`` when ``sigma``
        is not given.
      sigma: bandwidth, a scalar > 0; the IDM stopping time is ``sigma^2``. Traced: changing it
        does not recompile, and ``jit``, ``vmap`` and ``grad`` may run over it.
      c: bandwidth constant, a scalar > 0 (used only when ``sigma`` is None); traced like
        ``sigma``.
      solver: ``"sde"``, ``"ode"`` or ``"exact"``.
      steps: number of reverse steps (``sde`` / ``ode``), an integer (a shape: concrete).
      T: start time of the reverse process, a scalar; traced.
      inertia: ``"tweedie"`` (exact posterior mean) or ``"paper"`` (``e^s (x + s score)``).
      t_end: end time of ``dm``.
      block_size: training points per streamed block of the score.
      precision: matmul precision of the score (``"highest"`` default).
      shard: split the samples over all devices (the training set replicated on each). Default:
        on when more than one device is present and ``num_samples`` divides evenly. The
        random draws are the same either way, so sharded and single-device samples agree to
        float tolerance.
      scale: the data's length scale: 1 (the default: the paper's unit-sphere rule), a positive
        number (may be traced), or ``"data"`` (:func:`idm.schedule.length_scale`); see
        "Scale" in the module docstring. A given ``sigma`` is in data units.
      check_finite: raise :class:`NonFiniteSamples` naming the step and time where the first
        NaN or inf appeared (the check is computed inside the jitted sampler; reading it waits
        for the result). Input data with non-finite values raises ``ValueError`` either way.
      model: ``method="trained"`` only: the :class:`idm.trained.TrainedModel` whose score
        replaces the empirical one (its ``t_min`` is the end time; ``T`` may not exceed its
        ``T``). ``data`` is then only its training set's shape and dtype.

    Returns:
      Samples, shape ``[num_samples, D]``, in the dtype of ``data``.

    Raises:
      ValueError: for an unknown option, a count that is not an integer (``10.7``, ``True``),
        a non-scalar ``sigma``, ``c``, ``T``, ``t_end`` or ``scale`` (shapes are checked even
        under ``jit``), data that are not ``(n, D)`` with ``n >= 2``, ``D >= 1`` or hold NaN,
        or a concrete ``sigma``, ``c`` or ``scale`` that is not > 0. Traced values are not
        checked: see "Checks" in the module docstring.
    """
    data = training_set(data)
    check_finite_rows(data)
    _check_options(method, solver, inertia, model)
    if method == "trained":
        model = _check_model(model, data, solver=solver, T=T, scale=scale)
    num_samples = count(num_samples, "num_samples")
    steps = count(steps, "steps", minimum=0 if solver == "exact" else 1)
    _check_times(method, T, t_end, sigma)
    s = _scale_of(data, scale)
    if s is not None:  # at unit scale, and back
        unit, centre = schedule.to_unit_scale(data, s)
        out = sample(
            key, unit, num_samples, method=method, d=d,
            sigma=None if sigma is None else sigma / s, c=c, solver=solver, steps=steps, T=T,
            inertia=inertia, t_end=t_end, block_size=block_size, precision=precision,
            shard=shard, check_finite=check_finite,
        )  # fmt: skip
        return (centre + s * out).astype(data.dtype)
    sigma, t_stop = _stopping(data.shape[0], method, d, sigma, c, t_end, model)
    _check_start(method, solver, T, t_stop)
    block = min(int(block_size or default_block_size()), data.shape[0])
    data, sharding = _placement(data, num_samples, shard)
    dt = data.dtype
    samples, fault = _sample(
        key, data, jnp.asarray(sigma, dt), jnp.asarray(T, dt), jnp.asarray(t_end, dt), model,
        num_samples=num_samples, method=method, solver=solver, steps=steps, inertia=inertia,
        block_size=block, precision=precision, sharding=sharding,
    )  # fmt: skip
    if check_finite and _concrete(fault) and int(fault) != -1:
        raise NonFiniteSamples(_fault_message(int(fault), method, solver, steps, T, t_stop))
    return samples


def _check_times(method, T, t_end, sigma) -> None:
    """``T`` and ``t_end`` scalars (``t_end > 0`` for ``dm``), a given ``sigma`` > 0."""
    scalar(T, "T")
    scalar(t_end, "t_end")
    if method == "dm":
        positive(t_end, "t_end")
    if sigma is not None:
        positive(sigma, "sigma")


def _scale_of(data, scale):
    """The length scale to sample at, or None for the unit scale (a concrete ``scale=1``)."""
    if not isinstance(scale, str) and _concrete(scalar(scale, "scale")) and float(scale) == 1.0:
        return None
    if isinstance(scale, str) and scale != "data":
        raise ValueError(f"scale must be a positive number or 'data', got {scale!r}")
    s = schedule.length_scale(data) if isinstance(scale, str) else scale
    positive(s, "scale")
    return s


def _check_options(method, solver, inertia, model) -> None:
    """The option strings, and ``model=`` given exactly for ``method="trained"``."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {SOLVERS}, got {solver!r}")
    if inertia not in INERTIAS:
        raise ValueError(f"inertia must be one of {INERTIAS}, got {inertia!r}")
    if (method == "trained") != (model is not None):
        raise ValueError(
            "method='trained' needs model= (an idm.trained.TrainedModel)"
            if model is None
            else f"model= applies only to method='trained', not {method!r}"
        )


def _check_model(model, data, *, solver, T, scale) -> trained.TrainedModel:
    """A trained model that fits the data and options, stripped to what sampling reads."""
    if not isinstance(model, trained.TrainedModel):
        raise ValueError(f"model must be an idm.trained.TrainedModel, got {type(model).__name__}")
    if solver == "exact":
        raise ValueError("method='trained' has no exact sampler: use solver='sde' or 'ode'")
    if model.params[-1]["b"].shape[0] != data.shape[1]:
        raise ValueError(
            f"model was trained in D = {model.params[-1]['b'].shape[0]}, data have D = "
            f"{data.shape[1]}"
        )
    if _concrete(T) and not float(model.t_min) < float(T) <= float(model.T):
        raise ValueError(f"T must be in (t_min, {model.T}] for this model, got T={T}")
    if not (_concrete(scale) and not isinstance(scale, str) and float(scale) == 1.0):
        raise ValueError("method='trained' samples in the model's own coordinates: scale=1")
    # only what sampling reads: the report fields (losses, seconds) would key the compile
    return trained.TrainedModel(model.params, model.s2, model.t_min, model.T)


def _stopping(n, method, d, sigma, c, t_end, model):
    """``(sigma, t_stop)``: the bandwidth (the rule's when not given) and the stopping time."""
    if sigma is None:
        if method in BANDWIDTH_METHODS and d is None:
            raise ValueError(f"method={method!r} needs the intrinsic dimension d, or sigma")
        sigma = schedule.bandwidth(n, d, c) if d is not None else 1.0
    positive(sigma, "sigma")
    t_stop = {"dm": t_end, "trained": None if model is None else model.t_min}.get(method, sigma**2)
    return sigma, t_stop


def _check_start(method, solver, T, t_stop) -> None:
    """``T`` after the stopping time, where the reverse process starts at ``T``.

    The exact solver (and the baselines without one) draw ``p_stop`` directly and never use it.
    """
    uses_T = solver != "exact" and method in ("idm", "dm", "early_stop", "trained")
    if uses_T and _concrete(T) and _concrete(t_stop) and not float(T) > float(t_stop):
        raise ValueError(f"T must exceed the stopping time {float(t_stop):.3g}, got T={T}")


def _placement(data, num_samples, shard):
    """``(data, sharding)``: the samples split over the devices (the data replicated) or not.

    Default: split when more than one device is present and ``num_samples`` divides evenly.
    """
    if shard is None:
        shard = jax.device_count() > 1 and num_samples % jax.device_count() == 0
    if not shard:
        return data, None
    mesh = Mesh(np.asarray(jax.devices()), ("samples",))
    data = jax.device_put(data, NamedSharding(mesh, PartitionSpec()))
    return data, NamedSharding(mesh, PartitionSpec("samples"))


def _fault_message(fault, method, solver, steps, T, t_stop) -> str:
    t_stop = float(t_stop)
    if fault == -2:
        where = f"in the start draw from p_T (t = {float(T):.4g})"
    elif fault < steps and solver != "exact":
        grid = np.asarray(schedule.time_grid(float(T), t_stop, steps))
        where = (
            f"at reverse step {fault + 1} of {steps} of the {solver} solver "
            f"(t = {grid[fault]:.4g} -> {grid[fault + 1]:.4g})"
        )
    else:
        where = f"in the final {'inertia' if method == 'idm' else 'output'} step (t = {t_stop:.4g})"
    return (
        f"method={method!r} produced NaN or inf {where}: the exponent range of the data's dtype "
        "was probably exceeded (rescale or centre the data, or use float64)"
    )
