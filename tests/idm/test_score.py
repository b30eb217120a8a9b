"""The streamed empirical score against autodiff of the log-density, in float64."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from idm import schedule
from idm.score import denoise, score

TIMES = [1e-4, 1e-3, 1e-2, 0.1, 1.0, 8.0]


def log_density(x, data, t):
    """Reference log p_t(x) by direct differences, no GEMM tricks."""
    a, v = schedule.alpha(t), schedule.var(t)
    sq = jnp.sum((x[None, :] - a * data) ** 2, axis=-1)
    D = data.shape[1]
    return (
        jax.nn.logsumexp(-sq / (2 * v)) - jnp.log(data.shape[0]) - 0.5 * D * jnp.log(2 * jnp.pi * v)
    )


def _cloud(key, n, D, t):
    """Training points and queries drawn from p_t itself (where a sampler evaluates)."""
    k1, k2, k3 = (jax.random.fold_in(key, i) for i in range(3))
    data = jax.random.normal(k1, (n, D))
    idx = jax.random.randint(k2, (9,), 0, n)
    x = schedule.alpha(t) * data[idx] + jnp.sqrt(schedule.var(t)) * jax.random.normal(k3, (9, D))
    return data, x


def _rel(a, b):
    return float(jnp.max(jnp.linalg.norm(a - b, axis=-1) / jnp.linalg.norm(b, axis=-1)))


@pytest.mark.parametrize("t", TIMES)
def test_score_is_gradient_of_log_density(key, t):
    data, x = _cloud(key, 37, 5, t)
    ref = jax.vmap(jax.grad(log_density), in_axes=(0, None, None))(x, data, t)
    assert _rel(score(x, data, t, block_size=8), ref) < 1e-10  # batched, padded blocks
    assert _rel(score(x[0], data, t), ref[0]) < 1e-10  # single point


@pytest.mark.parametrize("t", TIMES)
def test_score_far_from_data_is_gradient(key, t):
    """Queries off the data (a wide Gaussian): logits spread over a large range."""
    data, _ = _cloud(key, 23, 4, t)
    x = 3.0 * jax.random.normal(jax.random.fold_in(key, 7), (6, 4))
    ref = jax.vmap(jax.grad(log_density), in_axes=(0, None, None))(x, data, t)
    assert _rel(score(x, data, t, block_size=5), ref) < 1e-10


@pytest.mark.parametrize("t", [1e-3, 0.5])
def test_denoise_is_tweedie(key, t):
    data, x = _cloud(key, 50, 6, t)
    mean = denoise(x, data, t)
    tweedie = (x + schedule.var(t) * score(x, data, t)) / schedule.alpha(t)
    np.testing.assert_allclose(mean, tweedie, rtol=1e-9, atol=1e-12)
    # and it is the softmax-weighted average of training points
    w = jax.nn.softmax(
        -jnp.sum((x[:, None] - schedule.alpha(t) * data[None]) ** 2, -1) / (2 * schedule.var(t)),
        axis=-1,
    )
    np.testing.assert_allclose(mean, w @ data, rtol=1e-10, atol=1e-12)


def test_block_size_does_not_change_result(key):
    data, x = _cloud(key, 101, 3, 0.05)
    ref = score(x, data, 0.05, block_size=101)
    for b in (1, 7, 32, 1000):
        np.testing.assert_allclose(score(x, data, 0.05, block_size=b), ref, rtol=1e-12)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_later_block_dominating_by_more_than_exp_range(key, dtype):
    """The streamed softmax's running max must move when a later block's logits exceed the
    first block's by far more than exp's range (gap ~5e4 here), or the sum is inf or 0.

    Query 0's neighbours are all in the last block, query 1's in the first.
    """
    t = 1e-3
    far = 10.0 + jax.random.normal(jax.random.fold_in(key, 1), (8, 4))
    near = jax.random.normal(jax.random.fold_in(key, 2), (8, 4))
    data = jnp.concatenate([far, far + 0.5, near]).astype(dtype)  # blocks of 8: far, far, near
    x = jnp.stack([schedule.alpha(t) * near[3] + 0.01, schedule.alpha(t) * far[5]]).astype(dtype)
    w = jax.nn.softmax(
        -jnp.sum((x[:, None] - schedule.alpha(t) * data[None]) ** 2, -1) / (2 * schedule.var(t)),
        axis=-1,
    )
    got = denoise(x, data, dtype(t), block_size=8)
    assert bool(jnp.all(jnp.isfinite(got)))
    tol = 1e-5 if dtype == jnp.float32 else 1e-12
    np.testing.assert_allclose(got, w @ data, rtol=tol, atol=tol)


@pytest.mark.parametrize("t", [1e-4, 1e-3, 0.1, 2.0])
def test_float32_close_to_float64(key, t):
    """float32 (highest precision matmuls) within 1e-4 relative of float64 for t >= 1e-4.

    Data on a unit sphere in D = 16 (the scale the samplers see) and queries from p_t.
    """
    data, x = _cloud(key, 512, 16, t)
    data = data / jnp.linalg.norm(data, axis=-1, keepdims=True)
    x = x / jnp.maximum(1.0, jnp.linalg.norm(x, axis=-1, keepdims=True))
    ref = score(x, data, t)
    s32 = score(x.astype(jnp.float32), data.astype(jnp.float32), jnp.float32(t))
    assert s32.dtype == jnp.float32
    assert _rel(s32.astype(jnp.float64), ref) < 1e-4


def test_shape_errors(key):
    data = jnp.ones((5, 3))
    with pytest.raises(ValueError, match="D=3"):
        score(jnp.ones(4), data, 0.1)
    with pytest.raises(ValueError, match="precision"):
        score(jnp.ones(3), data, 0.1, precision="fast")
