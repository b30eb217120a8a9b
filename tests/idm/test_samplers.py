"""Samplers: solvers against the exact oracle, the inertia step, D-independence, compiles."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import idm
from idm import manifolds, memorization, schedule, score
from idm.samplers import _sample


def _sphere_data(key, d, D, n):
    M = manifolds.get("sphere", d=d, D=D, key=jax.random.fold_in(key, 0))
    return M, M.sample(jax.random.fold_in(key, 1), n)


def energy_distance(x, y):
    """Unbiased (U-statistic) energy distance; its mean is 0 when x and y share a law."""

    def mean_dist(a, b, same):
        dist = jnp.linalg.norm(a[:, None] - b[None], axis=-1)
        if same:
            return dist.sum() / (a.shape[0] * (a.shape[0] - 1))
        return dist.mean()

    return float(2 * mean_dist(x, y, False) - mean_dist(x, x, True) - mean_dist(y, y, True))


@pytest.mark.parametrize("solver", ["sde", "ode"])
def test_solvers_approach_exact_sampler(key, solver):
    """Energy distance to the exact draw of p_{sigma^2} falls with steps to the noise level.

    The noise level is the spread of the same statistic between independent exact draws.
    """
    _, data = _sphere_data(key, 2, 5, 300)
    m, sigma = 800, 0.3

    def draw(i, **kw):
        return idm.sample(
            jax.random.fold_in(key, i), data, m, method="early_stop", sigma=sigma, **kw
        )

    ref = draw(100, solver="exact")
    noise = np.array([energy_distance(draw(101 + i, solver="exact"), ref) for i in range(5)])
    level = noise.mean() + 3 * noise.std(ddof=1)
    dist = {k: energy_distance(draw(7, solver=solver, steps=k), ref) for k in (2, 8, 128)}
    assert dist[2] > 5 * level, (dist, level)
    assert dist[2] > dist[8] > dist[128], dist
    assert dist[128] < level, (dist, level)


def test_paper_and_tweedie_steps_differ_by_sigma_to_the_fourth(key):
    """e^s (z + s score) - (z + v_s score) / alpha_s = e^s (s - v_s) score = O(s^2) score."""
    _, data = _sphere_data(key, 1, 3, 400)
    ratios = []
    for sigma in (0.2, 0.1):
        kw = dict(method="idm", sigma=sigma, solver="exact")
        paper = idm.sample(key, data, 300, inertia="paper", **kw)
        tweedie = idm.sample(key, data, 300, inertia="tweedie", **kw)
        # the same key gives the same z ~ p_s; recover it and its score
        z = idm.samplers._noised(jax.random.fold_in(key, 0), data, 300, sigma**2)
        sc = score.score(z, data, sigma**2)
        ratios.append(jnp.linalg.norm(paper - tweedie, axis=-1) / jnp.linalg.norm(sc, axis=-1))
    r = float(jnp.median(ratios[0]) / jnp.median(ratios[1]))
    s1, s2 = 0.2**2, 0.1**2
    exact = (np.exp(s1) * (s1 - schedule.var(s1))) / (np.exp(s2) * (s2 - schedule.var(s2)))
    np.testing.assert_allclose(r, exact, rtol=1e-6)
    assert 14 < r < 17  # (0.2 / 0.1)^4 = 16 up to O(sigma^2)


def _mean_distance(key, method, D, *, n=2000, d=2, m=1000, **kw):
    M, data = _sphere_data(key, d, D, n)
    out = idm.sample(jax.random.fold_in(key, 2), data, m, method=method, d=d, solver="exact", **kw)
    dist = M.distance(out)
    return float(dist.mean()), float(dist.std() / np.sqrt(m))


@pytest.mark.slow
def test_idm_distance_to_manifold_is_order_sigma2_and_free_of_D(key):
    """S^2, n = 2000: IDM's off-manifold error is ~ d/2 sigma^2, the same at D = 3 and 1000."""
    sigma2 = schedule.bandwidth(2000, 2) ** 2
    low, se_low = _mean_distance(key, "idm", 3)
    high, se_high = _mean_distance(key, "idm", 1000)
    assert abs(high - low) / low < 0.15
    assert 0.5 * sigma2 < low < 2 * sigma2
    for method in ("early_stop", "kde"):
        small, _ = _mean_distance(key, method, 3)
        big, _ = _mean_distance(key, method, 300)
        # the normal noise has D - d directions of size sigma: sqrt(D) growth
        assert big / small > 0.5 * np.sqrt(300 / 3), (method, small, big)


@pytest.mark.slow
def test_paper_inertia_error_grows_with_D(key):
    """The literal step leaves normal noise ~ s sqrt(s D); the Tweedie step does not."""
    n = 2000
    paper = [_mean_distance(key, "idm", D, n=n, d=1, inertia="paper")[0] for D in (3, 300)]
    tweedie = [_mean_distance(key, "idm", D, n=n, d=1)[0] for D in (3, 300)]
    assert paper[1] > 3 * paper[0]
    assert abs(tweedie[1] - tweedie[0]) / tweedie[0] < 0.15
    assert tweedie[1] < paper[1] / 2


def test_dm_returns_training_points(key):
    _, data = _sphere_data(key, 2, 10, 200)
    for solver in ("exact", "sde"):
        out = idm.sample(key, data, 100, method="dm", solver=solver, steps=60)
        nearest = jnp.min(jnp.linalg.norm(out[:, None] - data[None], axis=-1), axis=1)
        assert float(nearest.max()) < 1e-6


def test_train_is_a_subset_without_replacement(key):
    _, data = _sphere_data(key, 2, 4, 50)
    out = idm.sample(key, data, 50, method="train")
    np.testing.assert_array_equal(
        np.sort(np.asarray(out), axis=0), np.sort(np.asarray(data), axis=0)
    )


def test_no_recompilation_when_sigma_or_c_changes(key):
    _, data = _sphere_data(key, 2, 4, 64)
    idm.sample(key, data, 16, d=2, c=1.0, solver="sde", steps=3)
    before = _sample._cache_size()
    for kw in (dict(c=0.5), dict(c=2.0), dict(sigma=0.3), dict(sigma=0.05)):
        idm.sample(key, data, 16, d=2, solver="sde", steps=3, **kw)
    assert _sample._cache_size() == before


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        (dict(method="flow"), "method"),
        (dict(solver="rk4"), "solver"),
        (dict(inertia="newton"), "inertia"),
        (dict(sigma=0.0), "sigma"),
        (dict(steps=0), "steps"),
        (dict(method="idm"), "intrinsic dimension d"),
        (dict(sigma=0.5, T=0.1), "T must exceed"),
    ],
)
def test_bad_arguments_are_refused(key, kw, match):
    data = jnp.ones((5, 3))
    with pytest.raises(ValueError, match=match):
        idm.sample(key, data, 4, **kw)


def test_memorization_on_S2(key):
    """S^2 in D = 10, n = 500: DM copies (>= 0.95), IDM never does and lands > 0.2 sigma away."""
    _, data = _sphere_data(key, 2, 10, 500)
    sigma = schedule.bandwidth(500, 2)
    dm = idm.sample(jax.random.fold_in(key, 5), data, 1000, method="dm", solver="exact")
    out = idm.sample(jax.random.fold_in(key, 6), data, 1000, d=2, solver="exact")
    assert memorization.copy_fraction(dm, data) >= 0.95
    assert memorization.copy_fraction(out, data) == 0.0
    assert memorization.median_nn_distance(out, data) > 0.2 * sigma


@pytest.mark.parametrize("method", ["idm", "cfdm"])
def test_sample_under_a_callers_jit_with_the_data_closed_over(key, method):
    """Closed-over data is concrete but staged: the argument checks must not trip on it."""
    data = jax.random.normal(jax.random.fold_in(key, 1), (64, 3))
    kw = dict(method=method, sigma=0.3, solver="exact" if method == "idm" else "sde", steps=4)
    k = jax.random.fold_in(key, 2)
    jitted = jax.jit(lambda k: idm.sample(k, data, 8, **kw))(k)
    np.testing.assert_allclose(jitted, idm.sample(k, data, 8, **kw), rtol=1e-10, atol=1e-12)
    bad = data.at[5, 0].set(jnp.nan)
    with pytest.raises(ValueError, match="row 5"):
        jax.jit(lambda k: idm.sample(k, bad, 8, **kw))(k)
