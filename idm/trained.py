r"""A trained score network: the usual route beside the training-free empirical score.

A small time-conditioned MLP is the denoiser of the forward OU process (``idm.schedule``):
for ``x_t = alpha_t x_0 + sqrt(v_t) xi``, in the scaled coordinate ``y = x_t / alpha_t =
x_0 + sig xi`` (``sig^2 = v_t / alpha_t^2``), it is preconditioned as in Karras et al. 2022,

.. math::

    \hat x_0(x, t) = c_{skip}\, y + c_{out}\, F_\theta(c_{in} y, t), \quad
    c_{skip} = \frac{s_2}{sig^2 + s_2},\quad c_{out} = \sqrt{\frac{sig^2 s_2}{sig^2 + s_2}},
    \quad \nabla \log p_t(x) \approx \frac{\alpha_t \hat x_0 - x}{v_t}

(``s2`` the data's mean squared coordinate; Tweedie's formula for the score), trained by
denoising score matching (Vincent 2011) with the weight ``1 / c_out^2``,
``E |F_theta - (x_0 - c_skip y) / c_out|^2 / D``, ``t`` log-uniform on ``[t_min, T]``. The
zero network scores exactly 1 on this loss, the scale against which a diverging run is
recognised. (Plain noise prediction was tried first: its denoiser ``(x - sqrt(v) eps) /
alpha`` multiplies the network's error by ``e^T`` at the start of the reverse process, and
the samples left the sphere by a factor of 3000.)

The network is a pure function over a parameter pytree: the input ``x`` is scaled by
``1 / sqrt(alpha_t^2 s2 + v_t)`` (``c_in y``: unit scale at every t), a sinusoidal
embedding of ``log t`` is concatenated to it and added, through its own projection, to every
hidden layer; SiLU activations; the output layer starts at zero. Training is Adam (warm-up
then cosine decay, global-norm clipping) with an exponential moving average of the weights;
the EMA weights are the model that samples. Every draw derives from the key by
``fold_in(key, step)``, so a run is deterministic from its key.

This module holds no file I/O and no progress bar: :func:`train` reports through an optional
``callback(step, loss)`` (the experiments attach tqdm and the on-disk cache).

Sampling runs through :func:`idm.sample` with ``method="trained"`` and ``model=``: the same
exponential-integrator solvers (``sde``, ``ode``) and time grid as the empirical methods, to
the end time ``t_min`` of training, returning the denoised mean there (as ``dm`` does).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

from idm import schedule
from idm._checks import check_finite_rows, training_set

__all__ = [
    "TrainConfig",
    "TrainedModel",
    "TrainingDiverged",
    "apply",
    "denoise",
    "dsm_loss",
    "init",
    "num_params",
    "score",
    "train",
]

#: Chunk mean loss above this multiple of the zero network's loss (1) counts as diverged.
DIVERGED_LOSS = 10.0


class TrainingDiverged(FloatingPointError):
    """The DSM loss became NaN/inf or grew far above the zero network's; names the setting."""


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of the network and its training (defaults measured on S^2, D = 100).

    Attributes:
        width: hidden units per layer.
        depth: hidden layers (>= 1).
        features: sinusoidal time features (an even number).
        steps: optimiser steps (>= 1).
        batch: training points per step (drawn with replacement; memory is O(batch * width)
            whatever n is).
        lr: peak learning rate of Adam.
        warmup: linear warm-up steps (capped at steps // 10).
        ema: decay of the weights' moving average (0 turns it off).
        clip: global gradient-norm clip.
        t_min: smallest training time, and the end time of sampling.
        T: largest training time (the sampler's start time).
        chunk: steps per compiled call (the granularity of the callback).
    """

    width: int = 256
    depth: int = 3
    features: int = 16
    steps: int = 4000
    batch: int = 256
    lr: float = 2e-3
    warmup: int = 200
    ema: float = 0.999
    clip: float = 1.0
    t_min: float = 1e-4
    T: float = 8.0
    chunk: int = 250

    def __post_init__(self):
        for name in ("width", "depth", "steps", "batch", "chunk"):
            if not getattr(self, name) >= 1:
                raise ValueError(f"trained.{name} must be >= 1, got {getattr(self, name)}")
        if self.features < 2 or self.features % 2:
            raise ValueError(f"trained.features must be an even number >= 2, got {self.features}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"trained.lr must be > 0, got {self.lr}")
        if self.warmup < 0:
            raise ValueError(f"trained.warmup must be >= 0, got {self.warmup}")
        if not 0 <= self.ema < 1:
            raise ValueError(f"trained.ema must be in [0, 1), got {self.ema}")
        if not self.clip > 0:
            raise ValueError(f"trained.clip must be > 0, got {self.clip}")
        if not 0 < self.t_min < self.T:
            raise ValueError(f"need 0 < trained.t_min < trained.T, got {self.t_min}, {self.T}")


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class TrainedModel:
    """A trained network: its (EMA) weights and the data's mean squared coordinate.

    Attributes:
        params: list of layer dicts (``w``, ``b`` and, for hidden layers, ``u`` the time
            projection); a pytree.
        s2: the training data's mean squared coordinate (input scaling), a scalar array.
        t_min, T: the training times' range (static: they fix the sampler's grid).
        losses: mean DSM loss per chunk of steps (NumPy, static; for reports).
        seconds: wall time of training (compilation included).
        steps: optimiser steps taken.
    """

    params: list
    s2: jax.Array
    t_min: float = dataclasses.field(metadata=dict(static=True), default=1e-4)
    T: float = dataclasses.field(metadata=dict(static=True), default=8.0)
    losses: tuple = dataclasses.field(metadata=dict(static=True), default=())
    seconds: float = dataclasses.field(metadata=dict(static=True), default=0.0)
    steps: int = dataclasses.field(metadata=dict(static=True), default=0)

    @property
    def num_params(self) -> int:
        """Trainable parameters."""
        return num_params(self.params)


def num_params(params) -> int:
    """Number of scalars in a parameter pytree."""
    return int(sum(np.size(p) for p in jax.tree_util.tree_leaves(params)))


def init(key, D: int, *, width: int = 256, depth: int = 3, features: int = 16, dtype=None):
    """Parameters of the MLP: LeCun-normal weights, zero biases, a zero output layer.

    Args:
      key: a ``jax.random`` key.
      D: data dimension (input and output).
      width: hidden units per layer (:class:`TrainConfig`).
      depth: hidden layers.
      features: sinusoidal time features.
      dtype: parameter dtype (default: JAX's default float).

    Returns:
      A list of ``depth + 1`` dicts; hidden layer ``k`` has ``w`` ``[in, width]``, ``u``
      ``[features, width]`` and ``b`` ``[width]``; the last has ``w`` ``[width, D]``, ``b`` ``[D]``.
    """
    dtype = dtype or jnp.zeros(()).dtype
    params, fan_in = [], D + features
    for k in range(depth):
        kw, ku = jax.random.split(jax.random.fold_in(key, k))
        params.append(
            dict(
                w=jax.random.normal(kw, (fan_in, width), dtype) / math.sqrt(fan_in),
                u=jax.random.normal(ku, (features, width), dtype) / math.sqrt(features),
                b=jnp.zeros((width,), dtype),
            )
        )
        fan_in = width
    params.append(dict(w=jnp.zeros((width, D), dtype), b=jnp.zeros((D,), dtype)))
    return params


def _time_features(t, features: int, dtype):
    """``[sin(2^k pi u), cos(2^k pi u)]_k`` with ``u = log(t) / 10``; ``[m]`` to ``[m, F]``."""
    u = jnp.log(t)[:, None] / 10.0
    freqs = math.pi * 2.0 ** jnp.arange(features // 2, dtype=dtype)
    arg = u * freqs[None, :]
    return jnp.concatenate([jnp.sin(arg), jnp.cos(arg)], axis=-1)


def apply(params, s2, x, t):
    """The raw network ``F_theta(c_in x, t)`` (the preconditioned denoiser's free part).

    Args:
      params: from :func:`init`.
      s2: the data's mean squared coordinate.
      x: points, shape ``[m, D]``.
      t: times, a scalar or shape ``[m]``, ``> 0``.

    Returns:
      Shape ``[m, D]``.
    """
    dt = x.dtype
    t = jnp.broadcast_to(jnp.asarray(t, dt), x.shape[:1])
    features = params[0]["u"].shape[0]
    emb = _time_features(t, features, dt)
    scale = jax.lax.rsqrt(schedule.alpha(t) ** 2 * s2 + schedule.var(t))[:, None]
    h = jnp.concatenate([x * scale, emb], axis=1)
    for layer in params[:-1]:
        h = jax.nn.silu(h @ layer["w"] + emb @ layer["u"] + layer["b"][None, :])
    return h @ params[-1]["w"] + params[-1]["b"][None, :]


def _precondition(s2, t, dt):
    """``(1 / alpha_t, c_skip, c_out)``, each the shape of ``t``, of the EDM denoiser.

    At noise ``sig^2 = v_t / alpha_t^2`` in the scaled coordinate ``y = x / alpha_t``.
    """
    t = jnp.asarray(t, dt)
    inv_alpha = jnp.exp(t)
    sig2 = schedule.var(t) * inv_alpha**2
    return inv_alpha, s2 / (sig2 + s2), jnp.sqrt(sig2 * s2 / (sig2 + s2))


def _denoise(params, s2, x, t):
    inv_alpha, c_skip, c_out = _precondition(s2, t, x.dtype)
    if jnp.ndim(inv_alpha):
        inv_alpha, c_skip, c_out = inv_alpha[:, None], c_skip[:, None], c_out[:, None]
    return c_skip * inv_alpha * x + c_out * apply(params, s2, x, t)


def denoise(model: TrainedModel, x, t):
    """The network's posterior mean ``E[X_0 | X_t = x]``, shape of ``x`` (``[m, D]``).

    ``c_skip y + c_out F_theta``, ``y = x / alpha_t`` (Karras et al. 2022's preconditioning
    with the data's scale ``s2``).
    """
    return _denoise(model.params, model.s2, x, t)


def score(model: TrainedModel, x, t):
    """The network's score ``(alpha_t xhat - x) / v_t`` (Tweedie), shape of ``x``."""
    t = jnp.asarray(t, x.dtype)
    return (schedule.alpha(t) * denoise(model, x, t) - x) / schedule.var(t)


def dsm_loss(params, s2, key, x0, t_min, T):
    """Denoising score-matching loss on the batch ``x0`` ``[b, D]``.

    ``mean |F_theta - (x0 - c_skip y) / c_out|^2``: the denoiser's squared error weighted by
    ``1 / c_out^2``, so that the target has unit scale at every t and the zero network scores 1
    in expectation; ``log t`` uniform on ``[log t_min, log T]``.
    """
    k_t, k_xi = jax.random.split(key)
    dt = x0.dtype
    u = jax.random.uniform(k_t, x0.shape[:1], dt)
    t = t_min * jnp.exp(u * jnp.log(T / t_min))
    xi = jax.random.normal(k_xi, x0.shape, dt)
    xt = schedule.alpha(t)[:, None] * x0 + jnp.sqrt(schedule.var(t))[:, None] * xi
    inv_alpha, c_skip, c_out = (c[:, None] for c in _precondition(s2, t, dt))
    target = (x0 - c_skip * inv_alpha * xt) / c_out
    return jnp.mean((apply(params, s2, xt, t) - target) ** 2)


def _optimizer(cfg: TrainConfig):
    warmup = min(cfg.warmup, cfg.steps // 10)
    lr = optax.warmup_cosine_decay_schedule(
        0.0, cfg.lr, warmup, max(cfg.steps, warmup + 1), end_value=cfg.lr / 100
    )
    return optax.chain(optax.clip_by_global_norm(cfg.clip), optax.adam(lr))


@functools.lru_cache(maxsize=32)
def _make_chunk(cfg: TrainConfig, length: int):
    """The optimiser and a jitted run of ``length`` steps (cached: one compile per config)."""
    opt = _optimizer(cfg)

    @jax.jit
    def run_chunk(state, key, data, s2, start):
        def step(state, i):
            params, ema, opt_state = state
            k = jax.random.fold_in(key, start + i)
            k_idx, k_loss = jax.random.split(k)
            idx = jax.random.randint(k_idx, (cfg.batch,), 0, data.shape[0])
            loss, grads = jax.value_and_grad(dsm_loss)(
                params, s2, k_loss, data[idx], cfg.t_min, cfg.T
            )
            updates, opt_state = opt.update(grads, opt_state, params)
            params = optax.apply_updates(params, updates)
            # EMA with the usual warm-up of its decay, so early weights do not linger
            n = (start + i + 1).astype(data.dtype)
            decay = jnp.minimum(cfg.ema, (1 + n) / (10 + n))
            ema = jax.tree_util.tree_map(lambda e, p: decay * e + (1 - decay) * p, ema, params)
            return (params, ema, opt_state), loss

        return jax.lax.scan(step, state, jnp.arange(length))

    return opt, run_chunk


def train(
    key,
    data,
    cfg: TrainConfig = TrainConfig(),
    *,
    callback: Callable[[int, float, TrainedModel], None] | None = None,
) -> TrainedModel:
    """Trains the network on ``data`` by denoising score matching.

    Args:
      key: a ``jax.random`` key; the run is a deterministic function of it and ``data``.
      data: training points, shape ``[n, D]`` (float; float64 under x64).
      cfg: hyper-parameters (:class:`TrainConfig`).
      callback: called after every chunk of ``cfg.chunk`` steps (and at the end) as
        ``callback(steps_done, mean_loss_of_chunk, model_so_far)`` (the EMA model): progress
        bars and checkpoint evaluations hook in here.

    Returns:
      The :class:`TrainedModel` of the EMA weights after ``cfg.steps`` steps (the last chunk
      is cut to fit ``steps`` exactly: the result does not depend on ``chunk`` beyond
      rounding).

    Raises:
      ValueError: bad data (shape, NaN) or ``cfg`` not a :class:`TrainConfig`.
      TrainingDiverged: a NaN/inf loss or a chunk mean above ``DIVERGED_LOSS`` (the zero
        network's loss is 1), naming ``trained.lr`` and its value.
    """
    if not isinstance(cfg, TrainConfig):
        raise ValueError(f"cfg must be a TrainConfig, got {type(cfg).__name__}")
    data = training_set(data)
    check_finite_rows(data)
    t0 = time.perf_counter()
    dt = data.dtype
    s2 = jnp.mean(data**2).astype(dt)
    params = init(
        jax.random.fold_in(key, 0),
        data.shape[1],
        width=cfg.width,
        depth=cfg.depth,
        features=cfg.features,
        dtype=dt,
    )
    opt, run_chunk = _make_chunk(cfg, cfg.chunk)
    state = (params, params, opt.init(params))
    k_steps = jax.random.fold_in(key, 1)
    losses, done = [], 0
    while done < cfg.steps:
        take = min(cfg.chunk, cfg.steps - done)
        step_fn = run_chunk if take == cfg.chunk else _make_chunk(cfg, take)[1]
        state, chunk_losses = step_fn(state, k_steps, data, s2, jnp.asarray(done, jnp.int32))
        loss = float(jnp.mean(chunk_losses))
        done += take
        if not math.isfinite(loss) or loss > DIVERGED_LOSS:
            raise TrainingDiverged(
                f"training diverged at step {done} (mean DSM loss {loss:.3g}; the zero network "
                f"scores 1): lower trained.lr (now {cfg.lr:g})"
            )
        losses.append(loss)
        if callback is not None:
            callback(done, loss, _model(state, s2, cfg, losses, t0, done))
    return _model(state, s2, cfg, losses, t0, done)


def _model(state, s2, cfg, losses, t0, done) -> TrainedModel:
    return TrainedModel(
        params=state[1],
        s2=s2,
        t_min=cfg.t_min,
        T=cfg.T,
        losses=tuple(losses),
        seconds=time.perf_counter() - t0,
        steps=done,
    )
