"""Nearest-training distances and the 1/3-ratio copy criterion against brute force."""

import jax
import jax.numpy as jnp
import numpy as np

from idm import memorization, neighbours


def test_nearest_distances_match_brute_force(key):
    data = jax.random.normal(jax.random.fold_in(key, 0), (300, 7))
    x = jax.random.normal(jax.random.fold_in(key, 1), (50, 7))
    brute = jnp.sort(jnp.linalg.norm(x[:, None] - data[None], axis=-1), axis=-1)[:, :3]
    got = neighbours.nearest_distances(x, data, k=3, method="stream", block_size=16)
    np.testing.assert_allclose(got, brute, rtol=1e-12)


def test_exact_copies_are_measured_exactly_in_float32(key):
    """Copies at distance 1e-6 in float32: the GEMM form alone would return ~1e-3 noise."""
    data = jax.random.normal(key, (400, 64), jnp.float32)
    x = data[:20] + 1e-6 * jnp.ones((20, 64), jnp.float32)
    nd = neighbours.nearest_distances(x, data, k=2)
    np.testing.assert_allclose(nd[:, 0], 8e-6, rtol=0.05)  # |1e-6 * ones(64)| = 8e-6
    assert memorization.copy_fraction(x, data) == 1.0


def test_copy_criterion_threshold(key):
    data = jnp.array([[0.0, 0.0], [1.0, 0.0], [0.0, 10.0]])
    x = jnp.array([[0.2, 0.0], [0.3, 0.0], [0.5, 0.0]])  # ratios 0.25, 0.43, 1
    np.testing.assert_array_equal(memorization.copy_mask(x, data), [True, False, False])
