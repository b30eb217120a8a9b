import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from idm import bandwidth, manifolds

N, M = 200, 64  # one data size and sample count throughout: the jitted criterion compiles once


def _circle(key, n, D=4):
    man = manifolds.get("circle", d=1, D=D, key=jax.random.fold_in(key, 0))
    return man, man.sample(jax.random.fold_in(key, 1), n)


def test_split_is_a_keyed_partition(key):
    data = jnp.arange(50.0)[:, None] * jnp.ones((1, 3))
    train, val = bandwidth.split(key, data, 0.2)
    assert train.shape == (40, 3)
    assert val.shape == (10, 3)
    together = np.sort(np.concatenate([train[:, 0], val[:, 0]]))
    np.testing.assert_array_equal(together, np.arange(50.0))
    train2, _ = bandwidth.split(key, data, 0.2)
    np.testing.assert_array_equal(train, train2)
    train3, _ = bandwidth.split(jax.random.fold_in(key, 1), data, 0.2)
    assert not np.array_equal(train, train3)


def test_gradient_matches_central_difference(key):
    cost = "euclidean"  # the default; "sqeuclidean" goes through the same ott divergence
    _, data = _circle(key, N)
    train, val = bandwidth.split(jax.random.fold_in(key, 2), data)
    k = jax.random.fold_in(key, 3)
    kw = dict(num_samples=M, cost=cost, threshold=1e-9, max_iterations=5000)
    kw["epsilon"] = bandwidth.default_epsilon(val, cost, 0.1)
    log_c, h = math.log(0.7), 1e-4
    value, ok, grad = bandwidth.criterion_and_grad(k, train, val, log_c, 1, **kw)
    assert bool(ok)
    assert value.dtype == jnp.float64
    plus, _ = bandwidth.criterion(k, train, val, math.exp(log_c + h), 1, **kw)
    minus, _ = bandwidth.criterion(k, train, val, math.exp(log_c - h), 1, **kw)
    fd = (float(plus) - float(minus)) / (2 * h)
    assert abs(float(grad)) > 1e-4  # a real slope, not a flat spot
    np.testing.assert_allclose(float(grad), fd, rtol=2e-3, atol=1e-7)
    v2, _ = bandwidth.criterion(k, train, val, math.exp(log_c), 1, **kw)
    np.testing.assert_allclose(float(value), float(v2), rtol=1e-10)


def test_select_c_beats_bad_constants_on_fresh_data(key):
    man, data = _circle(key, N)
    res = bandwidth.select_c(
        jax.random.fold_in(key, 2), data, 1, num_samples=M, steps=3, grid=(0.25, 1.0, 4.0),
        criterion="sinkhorn", scale=1.0,
    )  # fmt: skip
    assert res.n_train + res.n_val == N
    assert res.n_val == N // 5
    assert res.log_c_path.shape == (4,)
    assert res.criterion_path.shape == (4,)
    assert res.grid_c.tolist() == [0.25, 1.0, 4.0]
    # never worse on the criterion than the grid points the memorization guard allows
    assert res.criterion <= res.grid_criterion[res.grid_c >= res.c_min].min() + 1e-12
    assert res.sinkhorn_converged
    np.testing.assert_allclose(res.sigma, res.c * res.n_train ** (-1 / 5), rtol=1e-12)
    # held out from the selection: fresh population samples and fresh sampler keys
    train, _ = bandwidth.split(jax.random.fold_in(jax.random.fold_in(key, 2), 0), data, 0.2)

    def heldout(c):
        total = 0.0
        for i in range(3):
            fresh = man.sample(jax.random.fold_in(key, 10 + i), res.n_val)
            k = jax.random.fold_in(key, 20 + i)
            total += float(bandwidth.criterion(k, train, fresh, c, 1, num_samples=M)[0])
        return total

    chosen = heldout(res.c)
    assert chosen < 0.5 * heldout(20.0)
    assert chosen < heldout(4.0)


def test_gaussian_blob_selection_avoids_collapse(key):
    # full-dimensional data (d = D = 4): a large c collapses IDM onto the data mean
    data = jax.random.normal(key, (N, 4))
    res = bandwidth.select_c(
        jax.random.fold_in(key, 1), data, 4, num_samples=M, steps=2, max_copy_fraction=None,
        criterion="sinkhorn", scale=1.0,
    )  # fmt: skip
    assert res.c < 4.0
    assert res.criterion <= float(res.grid_criterion[res.grid_c == 1.0][0]) + 1e-12
    train, val = bandwidth.split(jax.random.fold_in(jax.random.fold_in(key, 1), 0), data, 0.2)
    k = jax.random.fold_in(key, 7)
    chosen = float(bandwidth.criterion(k, train, val, res.c, 4, num_samples=M)[0])
    assert chosen < float(bandwidth.criterion(k, train, val, 20.0, 4, num_samples=M)[0])


@pytest.mark.parametrize(
    ("data_shape", "kwargs"),
    [
        ((40,), {}),
        ((3, 2), {}),
        ((40, 2), {"d": 0}),
        ((40, 2), {"d": 1.5}),
        ((40, 2), {"val_fraction": 1.2}),
        ((40, 2), {"val_fraction": 0.0}),
        ((40, 2), {"cost": "cosine"}),
        ((40, 2), {"grid": (0.5, -1.0)}),
        ((40, 2), {"c_init": 0.0}),
        ((40, 2), {"steps": -1}),
        ((40, 2), {"num_samples": 1}),
        ((40, 2), {"epsilon": -0.1}),
        ((40, 2), {"learning_rate": 0.0}),
    ],
)
def test_bad_input_raises(key, data_shape, kwargs):
    data = jax.random.normal(key, data_shape)
    kwargs = {"d": 1, **kwargs}
    d = kwargs.pop("d")
    with pytest.raises(ValueError):
        bandwidth.select_c(key, data, d, **kwargs)


def test_nonfinite_data_and_bad_c_raise(key):
    data = jax.random.normal(key, (40, 2)).at[3, 1].set(jnp.nan)
    with pytest.raises(ValueError):
        bandwidth.select_c(key, data, 1)
    train, val = bandwidth.split(key, jax.random.normal(key, (40, 2)))
    with pytest.raises(ValueError):
        bandwidth.criterion(key, train, val, 0.0, 1)


def test_memorization_guard_keeps_c_where_samples_do_not_copy(key):
    """Unguarded, the held-out divergence is content with near-copies at small c (the training
    points are as close to the validation split as the population is); the guard keeps c at
    or above the smallest grid value whose samples copy at most 1%."""
    _, data = _circle(key, N)
    grid = (1 / 32, 1 / 8, 0.5, 1.0)
    kw = dict(num_samples=M, steps=0, grid=grid, criterion="sinkhorn", scale=1.0)
    free = bandwidth.select_c(jax.random.fold_in(key, 2), data, 1, max_copy_fraction=None, **kw)
    guarded = bandwidth.select_c(jax.random.fold_in(key, 2), data, 1, **kw)
    copies = dict(zip(guarded.grid_c.tolist(), guarded.grid_copy_fraction.tolist(), strict=True))
    assert copies[1 / 32] > 0.1  # c = 1/32 resamples the training set
    assert free.c < guarded.c_min  # and the unguarded choice goes there
    assert guarded.c >= guarded.c_min
    assert all(v <= 0.01 for c, v in copies.items() if c >= guarded.c_min)


def test_length_scale_is_one_on_the_unit_sphere_and_scales_with_the_data():
    pts = np.array(
        [[1.0, 0, 0], [-1.0, 0, 0], [0, 1.0, 0], [0, -1.0, 0], [0, 0, 1.0], [0, 0, -1.0]]
    )
    assert bandwidth.length_scale(pts) == pytest.approx(1.0, abs=1e-15)
    assert bandwidth.length_scale(7.0 * pts + 3.0) == pytest.approx(7.0, rel=1e-12)


def test_w1_selection_bisects_the_guard_and_says_what_decided(key):
    """On the circle the held-out W1 keeps falling as c shrinks towards copying: the choice is
    the guard's bisected boundary, where the sampler on all n points copies at most the target,
    and the largest evaluated c below it copies more."""
    _, data = _circle(key, N)
    res = bandwidth.select_c(jax.random.fold_in(key, 2), data, 1, num_samples=M, scale=1.0,
                             grid=(1 / 32, 1 / 8, 0.5, 1.0), steps=2)  # fmt: skip
    assert res.criterion_name == "w1"
    target = 0.6 * 0.01  # guard_margin * max_copy_fraction
    cs, copies = res.evaluated_c, res.evaluated_copy_fraction
    at = int(np.flatnonzero(cs == res.c_guard)[0])
    assert copies[at] <= target
    assert copies[at - 1] > target  # the bisection's other end
    assert cs[at] / cs[at - 1] < 1.02  # 8 bisections of a factor 4
    assert res.c >= res.c_guard
    assert res.decided_by in ("guard", "criterion")
    if res.decided_by == "guard":
        assert res.c == res.c_guard


def test_w1_selection_is_scale_free(key):
    """The same cloud at 10^-3 and 10^3 times its size: the same c, sigma scaled with it."""
    _, data = _circle(key, N)
    kw = dict(num_samples=M, grid=(0.25, 0.5, 1.0), steps=2, guard_steps=3)
    ref = bandwidth.select_c(jax.random.fold_in(key, 3), data, 1, **kw)
    for factor in (1e-3, 1e3):
        res = bandwidth.select_c(jax.random.fold_in(key, 3), factor * data, 1, **kw)
        assert res.c == pytest.approx(ref.c, rel=1e-9)
        assert res.scale == pytest.approx(factor * ref.scale, rel=1e-9)
        assert res.sigma == pytest.approx(factor * ref.sigma, rel=1e-9)
