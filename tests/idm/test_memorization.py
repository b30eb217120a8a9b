"""Memorization metrics: streamed nearest distances against brute force, the 1/3-ratio copy
criterion, duplicates, reports."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jaxprs import max_intermediate

from idm import manifolds, memorization, neighbours


def _brute(x, data, k):
    d = np.linalg.norm(np.asarray(x)[:, None, :] - np.asarray(data)[None, :, :], axis=-1)
    return np.sort(d, axis=1)[:, :k]


@pytest.mark.parametrize(
    ("m", "n", "k", "block", "qblock"), [(37, 301, 1, 64, 16), (50, 64, 3, 7, 50)]
)
def test_nearest_distances_match_brute_force_with_ragged_blocks(key, m, n, k, block, qblock):
    x = jax.random.normal(jax.random.fold_in(key, 1), (m, 5))
    data = jax.random.normal(jax.random.fold_in(key, 2), (n, 5))
    got = neighbours.nearest_distances(
        x, data, k, method="stream", block_size=block, query_block=qblock
    )
    assert got.shape == (m, k)
    np.testing.assert_allclose(got, _brute(x, data, k), rtol=1e-12)


def test_tiny_distances_are_exact_for_float32_inputs(key):
    """Copies at 1e-6 from unit-scale points: the GEMM form alone would give ~1e-3 noise."""
    data = manifolds.get("sphere", d=2, D=50, key=key).sample(jax.random.fold_in(key, 1), 500)
    data = data.astype(jnp.float32)
    direction = jax.random.normal(jax.random.fold_in(key, 2), (30, 50), jnp.float32)
    direction = direction / jnp.linalg.norm(direction, axis=1, keepdims=True)
    x = data[:30] + 1e-6 * direction
    nd = neighbours.nearest_distances(x, data, 2)
    expected = np.linalg.norm(np.asarray(x, np.float64) - np.asarray(data[:30], np.float64), axis=1)
    np.testing.assert_allclose(nd[:, 0], expected, rtol=1e-6)
    assert memorization.copy_fraction(x, data) == 1.0


def test_copy_criterion_and_duplicates():
    data = jnp.array([[0.0, 0.0], [1.0, 0.0], [0.0, 10.0], [0.0, 10.0]])
    # ratios 0.25 (copy), 0.43, 1.0, and an exact copy of a duplicated point (d1 = d2 = 0)
    x = jnp.array([[0.2, 0.0], [0.3, 0.0], [0.5, 0.0], [0.0, 10.0]])
    np.testing.assert_array_equal(memorization.copy_mask(x, data), [True, False, False, True])
    assert memorization.copy_fraction(x, data) == 0.5
    assert isinstance(memorization.copy_fraction(x, data), float)
    np.testing.assert_allclose(memorization.median_nn_distance(x, data), 0.25)


def test_training_set_copies_itself_and_fresh_samples_do_not(key):
    man = manifolds.get("sphere", d=2, D=10, key=key)
    data = man.sample(jax.random.fold_in(key, 1), 400)
    fresh = man.sample(jax.random.fold_in(key, 2), 400)
    assert memorization.copy_fraction(data, data) == 1.0
    # For a locally uniform law in dimension d, (d1 / d2)^d is uniform on [0, 1] (the ball
    # volumes of a Poisson process), so a fresh point is a "copy" with probability
    # (1/3)^d = 1/9 on S^2. (This test read `< 0.1` and passed on a float32 mean of 40/400;
    # the fraction is now exact and 1/9 is its expectation, within 3 standard errors.)
    p, m = 1 / 9, fresh.shape[0]
    assert abs(memorization.copy_fraction(fresh, data) - p) < 3 * np.sqrt(p * (1 - p) / m)


def test_distance_to_manifold_and_report(key):
    man = manifolds.get("sphere", d=2, D=10, key=key)
    data = man.sample(jax.random.fold_in(key, 1), 300)
    x = 1.1 * man.sample(jax.random.fold_in(key, 2), 200)
    np.testing.assert_allclose(memorization.distance_to_manifold(x, man), 0.1, rtol=1e-10)
    rep = memorization.memorization_report(x, data, man)
    nd = neighbours.nearest_distances(x, data, 2)
    np.testing.assert_allclose(rep.nearest, nd)
    assert rep.copy_fraction == memorization.copy_fraction(x, data)
    assert rep.median_nn_distance == memorization.median_nn_distance(x, data)
    np.testing.assert_allclose(rep.manifold_distance, 0.1, rtol=1e-10)
    assert np.isnan(memorization.memorization_report(x, data).manifold_distance)


def test_nearest_distances_streams(key):
    """No value inside the computation has m x n (let alone m x n x D) elements."""
    m, n, D = 512, 4096, 16
    x = jnp.zeros((m, D))
    data = jnp.zeros((n, D))
    ex = jnp.full((m,), -1, jnp.int32)
    fn = lambda a, b: neighbours._candidates(a, b, ex, 2 + neighbours.SPARE, 256, 64)  # noqa: E731
    jaxpr = jax.make_jaxpr(fn)(x, data).jaxpr
    assert max_intermediate(jaxpr) <= max(n * D, 64 * (256 + 4))


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match="at least k"):
        neighbours.nearest_distances(jnp.zeros((3, 2)), jnp.zeros((1, 2)), 2)
    with pytest.raises(ValueError, match=r"\(m, D\)"):
        neighbours.nearest_distances(jnp.zeros((3, 2)), jnp.zeros((4, 3)), 2)


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
    np.testing.assert_array_equal(dist.rows, [0, 1, 5])
    exact = memorization.distinct(data, tolerance=0)  # exact duplicates only: row 4 of row 1
    np.testing.assert_array_equal(exact.rows, [0, 1, 2, 3, 5])
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
