"""sigma-CFDM: smoothed score against direct references, the paper's sampler, memorization."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from idm import cfdm, manifolds, memorization, schedule, score


def _data(key, n=40, D=5):
    return jax.random.normal(jax.random.fold_in(key, 0), (n, D))


def _paper_smoothed_score(z, tau, X, sigma, eps):
    """The port's SmoothedScore in the paper's coordinates, numpy float64, m x M x n direct."""
    z, X, eps = (np.asarray(a, np.float64) for a in (z, X, eps))
    y = z[:, None, :] + sigma * eps  # (m, M, D)
    d2 = np.sum((y[:, :, None, :] - tau * X[None, None]) ** 2, axis=-1)  # (m, M, n)
    logits = -d2 / (2 * (1 - tau) ** 2)
    w = np.exp(logits - logits.max(axis=-1, keepdims=True))
    w /= w.sum(axis=-1, keepdims=True)
    k = w @ (tau * X)  # (m, M, D)
    return (k.mean(axis=1) - z) / (1 - tau) ** 2


def test_time_map_matches_signal_to_noise_and_scale():
    t = jnp.array([1e-6, 1e-4, 2.76e-3, 0.1, 1.0, 5.0])
    tau = cfdm.to_paper_time(t)
    np.testing.assert_allclose(cfdm.from_paper_time(tau), t, rtol=1e-10)
    c = cfdm.paper_scale(t)
    np.testing.assert_allclose(c * tau, schedule.alpha(t), rtol=1e-12)
    np.testing.assert_allclose(c * (1 - tau), jnp.sqrt(schedule.var(t)), rtol=1e-12)
    np.testing.assert_allclose(cfdm.to_paper_time(cfdm.from_paper_time(0.99)), 0.99, rtol=1e-14)
    grid = cfdm.time_grid(cfdm.from_paper_time(0.95), cfdm.from_paper_time(0.99), 4)
    np.testing.assert_allclose(cfdm.to_paper_time(grid), [0.95, 0.96, 0.97, 0.98, 0.99], rtol=1e-12)
    assert bool(jnp.all(jnp.diff(grid) < 0))
    defaults = cfdm._default_times(None, None)  # Python floats, so sample() can be traced
    np.testing.assert_allclose(defaults, cfdm.from_paper_time(jnp.array([0.95, 0.99])), rtol=1e-13)


def test_smoothed_score_equals_monte_carlo_mean_over_perturbed_queries(key):
    """Explicit perturbations: the mean denoiser at x + sigma c_t eps, and the score relation."""
    data = _data(key)
    x = jax.random.normal(jax.random.fold_in(key, 1), (7, 5))
    eps = jax.random.normal(jax.random.fold_in(key, 2), (7, 3, 5))
    t, sigma = 0.05, 0.4
    mean, sc = cfdm.smoothed_posterior_mean_and_score(x, data, t, sigma, eps, block_size=16)
    q = x[:, None, :] + sigma * cfdm.paper_scale(t) * eps
    den = jnp.stack([score.denoise(q[:, j], data, t) for j in range(3)], axis=1)
    np.testing.assert_allclose(mean, den.mean(axis=1), rtol=1e-12, atol=1e-13)
    per_point = jnp.stack([score.score(q[:, j], data, t) for j in range(3)], axis=1).mean(axis=1)
    shift = sigma * cfdm.paper_scale(t) * eps.mean(axis=1) / schedule.var(t)
    np.testing.assert_allclose(sc - shift, per_point, rtol=1e-10, atol=1e-10)
    # antithetic pairs: exactly the mean of the closed-form score at the perturbed points
    anti = jnp.concatenate([eps, -eps], axis=1)
    _, sc_anti = cfdm.smoothed_posterior_mean_and_score(x, data, t, sigma, anti)
    q = x[:, None, :] + sigma * cfdm.paper_scale(t) * anti
    per_point = jnp.stack([score.score(q[:, j], data, t) for j in range(6)], axis=1).mean(axis=1)
    np.testing.assert_allclose(sc_anti, per_point, rtol=1e-10, atol=1e-10)
    # one shared set of perturbations, and a single query
    m1, s1 = cfdm.smoothed_posterior_mean_and_score(x[2], data, t, sigma, eps[2])
    np.testing.assert_allclose(s1, sc[2], rtol=1e-12)
    shared, _ = cfdm.smoothed_posterior_mean_and_score(x, data, t, sigma, eps[2])
    np.testing.assert_allclose(shared[2], m1, rtol=1e-12)


@pytest.mark.parametrize("tau", [0.3, 0.95, 0.99])
def test_smoothed_score_is_the_papers_in_its_coordinates(key, tau):
    """s_ours(c z, t) = s_paper(z, tau) / c, against the port's formula computed directly."""
    data = _data(key)
    z = tau * data[:6] + (1 - tau) * jax.random.normal(jax.random.fold_in(key, 1), (6, 5))
    eps = jax.random.normal(jax.random.fold_in(key, 2), (6, 2, 5))
    t, sigma = cfdm.from_paper_time(tau), 0.3
    c = cfdm.paper_scale(t)
    _, sc = cfdm.smoothed_posterior_mean_and_score(c * z, data, t, sigma, eps)
    ref = _paper_smoothed_score(z, tau, data, sigma, eps)
    np.testing.assert_allclose(c * sc, ref, rtol=1e-9, atol=1e-9 * np.abs(ref).max())


def test_sigma_zero_is_the_empirical_score(key):
    data = _data(key)
    x = jax.random.normal(jax.random.fold_in(key, 1), (9, 5))
    eps = jax.random.normal(jax.random.fold_in(key, 2), (9, 4, 5))
    for t in (1e-3, 0.2):
        mean, sc = cfdm.smoothed_posterior_mean_and_score(x, data, t, 0.0, eps)
        ref_mean, ref_sc = score.posterior_mean_and_score(x, data, t)
        np.testing.assert_allclose(mean, ref_mean, rtol=1e-13, atol=1e-14)
        np.testing.assert_allclose(sc, ref_sc, rtol=1e-13, atol=1e-14)
        # and the smoothed score is continuous at sigma = 0
        _, sc_small = cfdm.smoothed_posterior_mean_and_score(x, data, t, 1e-9, eps)
        np.testing.assert_allclose(sc_small, ref_sc, rtol=1e-5, atol=1e-5)


def test_integrate_is_the_papers_euler_sampler(key):
    """Our DDIM-type steps on the uniform tau grid = the paper's Euler loop, to the last step.

    Noise levels where the posterior weights are soft, so the output depends on every step.
    """
    data = _data(key, n=30, D=4)
    tau0, tau1, K, m = 0.3, 0.7, 4, 5
    t0, t1 = cfdm.from_paper_time(tau0), cfdm.from_paper_time(tau1)
    z0 = schedule.alpha(t0) * data[:m] + jnp.sqrt(schedule.var(t0)) * jax.random.normal(
        jax.random.fold_in(key, 1), (m, 4)
    )
    eps = jax.random.normal(jax.random.fold_in(key, 2), (K + 1, m, 3, 4))
    sigma = 0.25
    out = cfdm.integrate(z0, data, sigma=sigma, perturbations=eps, t_start=t0, t_end=t1)
    taus = np.linspace(tau0, tau1, K + 1)
    z = np.asarray(z0) / float(cfdm.paper_scale(t0))
    for k, tau in enumerate(taus):
        h = (taus[k + 1] if k < K else 1.0) - tau
        s = _paper_smoothed_score(z, tau, data, sigma, eps[k])
        z = z + h * (z + (1 - tau) * s) / tau
    np.testing.assert_allclose(out, z, rtol=1e-9, atol=1e-10)


def test_samples_are_novel_and_near_the_sphere_while_sigma_zero_copies(key):
    """S^2 in D = 10, n = 500, the port's defaults (tau 0.95 -> 0.99 -> 1, M = 2).

    Measured (m = 1000): sigma = 0.2 gives copy fraction 0.10 and mean distance to the sphere
    0.022 (median nearest-training distance 0.08, against a spacing of about 0.16);
    sigma = 0 gives copies (0.94; the rest sit between two near-coincident training points).
    """
    man = manifolds.get("sphere", d=2, D=10, key=jax.random.fold_in(key, 0))
    data = man.sample(jax.random.fold_in(key, 1), 500)
    k = jax.random.fold_in(key, 2)
    x = cfdm.sample(k, data, 1000, sigma=0.2)
    assert x.shape == (1000, 10)
    assert x.dtype == data.dtype
    report = memorization.memorization_report(x, data, man)
    assert report.copy_fraction < 0.2, report.copy_fraction
    assert report.manifold_distance < 0.05, report.manifold_distance
    assert report.median_nn_distance > 0.04, report.median_nn_distance
    np.testing.assert_array_equal(cfdm.sample(k, data, 1000, sigma=0.2), x)
    compiled = cfdm._sample._cache_size()
    copies = cfdm.sample(k, data, 1000, sigma=0.0)
    assert cfdm._sample._cache_size() == compiled  # sigma is traced
    assert memorization.copy_fraction(copies, data) > 0.9
    assert float(jnp.mean(man.distance(copies))) < 1e-3


def test_sample_rejects_bad_arguments(key):
    data = _data(key)
    with pytest.raises(ValueError):
        cfdm.sample(key, data, 10, sigma=-0.1)
    with pytest.raises(ValueError):
        cfdm.sample(key, data, 10, sigma=0.1, t_start=1e-4, t_end=1e-3)
    with pytest.raises(ValueError):
        cfdm.sample(key, data, 10, sigma=0.1, steps=0)
    with pytest.raises(ValueError):
        cfdm.sample(key, data[:1], 10, sigma=0.1)
    with pytest.raises(ValueError):
        cfdm.smoothed_posterior_mean_and_score(data[:3], data, 0.1, 0.1, jnp.zeros((2, 3, 5)))
