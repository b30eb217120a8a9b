"""Nearest-training distances and the 1/3-ratio copy criterion against brute force."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

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


# ----------------------------------------------------------------------------- duplicates


def _unit_rows(key, n, D):
    u = np.array(jax.random.normal(key, (n, D)), np.float64)
    return u / np.linalg.norm(u, axis=1, keepdims=True)


def _memorizer(key, data):
    """The empirical DM: its outputs are training points up to float32 rounding."""
    import idm

    return idm.sample(key, jnp.asarray(data, jnp.float32), 400, method="dm", solver="exact")


@pytest.mark.parametrize("kind", ["exact", "near"])
def test_a_memorizer_copies_on_duplicated_data(key, kind):
    """50 distinct points, each 10 times: the twin of the nearest point is not its rival."""
    u = _unit_rows(key, 50, 10)
    data = np.repeat(u, 10, axis=0)
    if kind == "near":  # rounding-sized perturbations, far below the tolerance
        data = data + 1e-7 * np.asarray(jax.random.normal(jax.random.fold_in(key, 1), data.shape))
    assert memorization.distinct(data.astype(np.float32)).duplicates == 450
    x = _memorizer(jax.random.fold_in(key, 2), data)
    assert memorization.copy_fraction(x, data.astype(np.float32)) > 0.95
    # the rule before duplicates were merged: d2 is the twin, d1 / d2 ~ 1
    plain = neighbours.nearest_distances(x, data, 2)
    assert np.mean((plain[:, 0] < plain[:, 1] / 3) | (plain[:, 0] == 0)) < 0.5


def test_copy_fraction_is_the_same_against_the_deduplicated_set(key):
    import idm

    u = _unit_rows(key, 60, 8)
    counts = 1 + np.arange(60) % 4  # some points once, some up to 4 times
    data = np.repeat(u, counts, axis=0)
    for i, c in enumerate([0.05, 0.3, 1.0]):
        x = idm.sample(jax.random.fold_in(key, i), data, 300, d=2, c=c, solver="exact")
        with_dups = memorization.copy_mask(x, data)
        np.testing.assert_array_equal(with_dups, memorization.copy_mask(x, u))


def test_distinct_groups_near_points_transitively_and_keeps_order():
    tol = 1e-3
    data = np.array([[0.0, 0.0], [5.0, 0.0], [0.0, 0.0009], [0.0, 0.0018], [5.0, 0.0], [9, 9]])
    dist = memorization.distinct(data, tolerance=tol)
    np.testing.assert_array_equal(dist.groups, [0, 1, 0, 0, 1, 2])  # 0-2-3 chain, 1 = 4
    np.testing.assert_array_equal(dist.points, data[[0, 1, 5]])
    assert dist.duplicates == 3


def test_duplicate_tolerance_follows_scale_and_dtype(key):
    u = _unit_rows(key, 100, 5)
    t64 = memorization.duplicate_tolerance(u)
    assert t64 == pytest.approx(memorization.DUPLICATE_RTOL, rel=0.05)  # rms radius ~ 1
    assert memorization.duplicate_tolerance(1e3 * u) == pytest.approx(1e3 * t64, rel=1e-12)
    t32 = memorization.duplicate_tolerance(u.astype(np.float32))
    assert t32 == pytest.approx(memorization.DUPLICATE_ULPS * np.finfo(np.float32).eps, rel=1e-6)


def test_data_without_duplicates_keep_the_plain_two_nearest(key):
    data = np.asarray(jax.random.normal(key, (300, 7)))
    x = np.asarray(jax.random.normal(jax.random.fold_in(key, 1), (50, 7)))
    index = memorization.TrainingIndex(data)
    assert index.duplicates == 0
    np.testing.assert_array_equal(index.nearest(x), neighbours.nearest_distances(x, data, 2))


def test_one_distinct_point_makes_every_sample_a_copy():
    data = np.ones((20, 3))
    x = np.array([[1.0, 1.0, 1.0], [3.0, 0.0, 0.0]])
    np.testing.assert_array_equal(memorization.copy_mask(x, data), [True, True])
