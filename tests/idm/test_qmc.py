"""Low-discrepancy draws of a method's law: the same law as the sampler's, with less noise."""

import jax
import numpy as np
import pytest
from scipy import stats

import idm
from idm import manifolds, qmc, w1


def _circle_data(key, n):
    man = manifolds.get("circle", d=1, D=2, key=key)
    data = np.asarray(man.sample(jax.random.fold_in(key, 1), n))
    return data @ np.asarray(man.frame).T  # span coordinates


def test_stratified_indices_draw_every_point_equally_often():
    rng = np.random.default_rng(0)
    order = rng.permutation(100)
    idx = qmc.stratified_indices(rng.uniform(size=256), 100, order, 0.37)
    counts = np.bincount(idx, minlength=100)
    assert set(counts) <= {2, 3}  # floor / ceil of 256 / 100
    assert counts.sum() == 256
    few = qmc.stratified_indices(rng.uniform(size=10), 100, order, 0.5)
    pos = np.argsort(order)[few]  # positions along the order: one in each block of 10
    assert sorted(pos // 10) == list(range(10))


def test_idm_draws_have_the_exact_samplers_law(key):
    """Moments and a two-sample test against iid draws of idm.sample(solver="exact")."""
    data = _circle_data(key, 300)
    sigma = idm.schedule.bandwidth(300, 1)
    m = 4096
    q = qmc.sample(jax.random.fold_in(key, 2), data, m, sigma=sigma)
    iid = np.asarray(idm.sample(jax.random.fold_in(key, 3), data, m, sigma=sigma, solver="exact"))
    for f in (lambda x: np.linalg.norm(x, axis=1), lambda x: x[:, 0], lambda x: x[:, 1] ** 2):
        a, b = f(q), f(iid)
        se = np.sqrt(a.var() / m + b.var() / m)
        assert abs(a.mean() - b.mean()) < 4 * se
    # the angle's distribution: Kolmogorov-Smirnov within its null spread
    ang = [np.arctan2(x[:, 1], x[:, 0]) for x in (q, iid)]
    assert stats.ks_2samp(*ang).pvalue > 1e-3
    # dm: the denoised mean at t_end lands on the training points
    dm = qmc.sample(jax.random.fold_in(key, 4), data, 64, method="dm", t_end=1e-12)
    nearest = np.min(np.linalg.norm(dm[:, None] - data[None], axis=-1), axis=1)
    assert nearest.max() < 1e-5


def test_draws_lower_the_spread_of_a_w1_estimate_at_fixed_m(key):
    """Exact W1 against a grid from m = 512 draws: the spread over 6 randomizations."""
    data = _circle_data(key, 256)
    sigma = idm.schedule.bandwidth(256, 1)
    a = 2 * np.pi * (np.arange(512) + 0.5) / 512
    grid = np.stack([np.cos(a), np.sin(a)], 1)
    est = {"qmc": [], "iid": []}
    for s in range(6):
        k = jax.random.fold_in(key, 10 + s)
        est["qmc"].append(w1.w1(qmc.sample(k, data, 512, sigma=sigma), grid, method="exact"))
        x = np.asarray(idm.sample(k, data, 512, sigma=sigma, solver="exact"))
        est["iid"].append(w1.w1(x, grid, method="exact"))
    assert np.std(est["qmc"]) < 0.5 * np.std(est["iid"]), est


def test_train_draws_are_training_points_and_a_key_fixes_the_draws(key):
    data = _circle_data(key, 50)
    t = qmc.sample(jax.random.fold_in(key, 5), data, 128, method="train")
    assert {tuple(p) for p in t} == {tuple(p) for p in data}  # every point, twice or thrice
    again = qmc.sample(jax.random.fold_in(key, 5), data, 128, method="train")
    np.testing.assert_array_equal(t, again)
    with pytest.raises(ValueError, match="method"):
        qmc.sample(key, data, 8, method="kde")
    with pytest.raises(ValueError, match="sigma"):
        qmc.sample(key, data, 8, method="idm")


def test_a_size_that_is_not_a_power_of_two_draws_without_a_warning(key):
    """SciPy warns about the Sobol' balance at such sizes; qmc filters it, with its reason."""
    import warnings

    data = np.asarray(jax.random.normal(key, (50, 3)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x = qmc.sample(key, data, 100, sigma=0.3)
    assert x.shape == (100, 3)
