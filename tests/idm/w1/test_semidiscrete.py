"""Semidiscrete W1 against closed forms, exact discrete OT and its own bounds."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from floats import below, between

from idm import manifolds, w1
from idm.w1 import semidiscrete as sd

# small, fast settings: the tests check correctness, not the defaults' speed
FAST = dict(num_iterations=1000, batch_size=256, n_eval=2**16)


def uniform01(key, k):
    return jax.random.uniform(key, (k, 1), jnp.float64)


def w1_to_uniform01(x):
    """Exact W1 between the uniform measure on the points x in [0, 1] and Uniform[0, 1].

    W1 = int_0^1 |F_m(t) - t| dt; on [x_(k), x_(k+1)] the empirical CDF is c = k/m, and
    int_a^b |t - c| dt = G(b) - G(a) with G(t) = (t - c)|t - c| / 2.
    """
    xs = np.sort(np.asarray(x, np.float64).ravel())
    m = len(xs)
    knots = np.concatenate([[0.0], xs, [1.0]])
    c = np.arange(m + 1) / m

    def G(t):
        return (t - c) * np.abs(t - c) / 2.0

    return float(np.sum(G(knots[1:]) - G(knots[:-1])))


def test_closed_form_formula():
    m = 10
    assert w1_to_uniform01((np.arange(m) + 0.5) / m) == pytest.approx(1 / (4 * m), rel=1e-12)
    assert w1_to_uniform01(np.zeros(1)) == pytest.approx(0.5, rel=1e-12)


@pytest.mark.parametrize("grid", [True, False])
def test_unit_interval_closed_form(key, grid):
    m = 20
    if grid:
        x = ((jnp.arange(m) + 0.5) / m)[:, None]
    else:
        x = jax.random.uniform(jax.random.fold_in(key, 1), (m, 1), jnp.float64)
    exact = w1_to_uniform01(x)
    res = sd.semidiscrete_w1_result(jax.random.fold_in(key, 2), x, uniform01, **FAST)
    assert abs(res.value - exact) <= 3 * res.diagnostics["value_se"] + 5e-3 * exact, (res, exact)
    # the lower bound holds (in expectation; at 3 SE here) and the upper bound too
    assert res.lower <= exact + 1e-12
    assert below(exact, res.upper)
    assert res.diagnostics["n_iters"] == FAST["num_iterations"]
    assert res.diagnostics["epsilon"] == 0.0


def test_circle_against_plug_in(key):
    circle = manifolds.get("circle", d=1, D=2, key=jax.random.fold_in(key, 1))
    m, big = 100, 2000
    x = circle.sample(jax.random.fold_in(key, 2), m)
    res = sd.semidiscrete_w1_result(jax.random.fold_in(key, 3), x, circle.sample, **FAST)
    pop = circle.sample(jax.random.fold_in(key, 4), big)
    pop2 = circle.sample(jax.random.fold_in(key, 5), big)
    plug_in = w1.w1_result(x, pop, method="exact", max_size=0).value
    floor = w1.w1_result(pop, pop2, method="exact").value
    # the plug-in is biased up by at most about the population floor at that size
    assert res.value <= plug_in + 3 * res.diagnostics["value_se"]
    assert plug_in - res.value <= floor, (res.value, plug_in, floor)
    assert between(res.lower, res.value, res.upper)


def test_fixed_sample_bracket_is_deterministic(key):
    """On a fixed sample, value and plan_cost + correction bracket the exact discrete W1."""
    circle = manifolds.get("circle", d=1, D=2, key=jax.random.fold_in(key, 1))
    x = circle.sample(jax.random.fold_in(key, 2), 60)
    y = circle.sample(jax.random.fold_in(key, 3), 600)
    fit = sd.dual_potential(
        jax.random.fold_in(key, 4), x, circle.sample, num_iterations=500, batch_size=256
    )
    g = fit.g
    exact = w1.w1_result(x, y, method="exact").value

    def fixed(k, n):
        return y[:n]

    for potential in (g, jnp.zeros_like(g)):  # any g gives valid bounds
        res = sd.evaluate_potential(key, x, fixed, potential, n_eval=len(y), chunk=len(y), fit=fit)
        info = res.diagnostics
        assert info["n_eval"] == len(y)
        assert res.value <= exact + 1e-10
        assert info["plan_cost"] + info["correction"] >= exact - 1e-10
    # the optimised potential beats g = 0 on this sample too
    zero = sd.evaluate_potential(key, x, fixed, jnp.zeros_like(g), n_eval=len(y), chunk=len(y))
    res = sd.evaluate_potential(key, x, fixed, g, n_eval=len(y), chunk=len(y))
    assert res.value > zero.value


def test_lower_value_upper_and_record(key):
    sphere = manifolds.get("sphere", d=2, D=5, key=jax.random.fold_in(key, 1))
    x = sphere.sample(jax.random.fold_in(key, 2), 50)
    fit = sd.dual_potential(key, x, sphere.sample, num_iterations=1000, batch_size=256)
    res = sd.evaluate_potential(key, x, sphere.sample, fit.g, n_eval=2**16, z=2.0, fit=fit)
    info = res.diagnostics
    assert between(res.lower, res.value, res.upper)
    assert res.lower == pytest.approx(res.value - 2.0 * info["value_se"])
    assert res.error == res.value - res.lower
    assert res.z == 2.0
    assert 0.0 <= info["cell_tv"] <= 1.0
    assert info["correction"] >= 0.0
    assert isinstance(res.converged, bool)
    assert res.method == "semidiscrete"
    assert (res.lower_by, res.upper_by) == ("dual", "plan")
    assert info["n_iters"] == fit.n_iters == 1000
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.value = 0.0
    with pytest.raises(TypeError):
        res.diagnostics["value_se"] = 0.0  # read-only
    no_upper = sd.evaluate_potential(key, x, sphere.sample, fit.g, n_eval=2**16, upper=False)
    assert np.isnan(no_upper.upper)
    assert no_upper.value == res.value


def test_bad_input_raises(key):
    x = jnp.zeros((5, 2)) + jnp.arange(5.0)[:, None]

    def samp(k, n):
        return jax.random.normal(k, (n, 2))

    with pytest.raises(ValueError, match="point cloud"):
        sd.dual_potential(key, jnp.zeros(5), samp)
    with pytest.raises(ValueError, match="point cloud"):
        sd.dual_potential(key, jnp.zeros((0, 2)), samp)
    with pytest.raises(ValueError, match="non-finite"):
        sd.dual_potential(key, x.at[1, 0].set(jnp.nan), samp)
    with pytest.raises(ValueError, match="sampler"):
        sd.dual_potential(key, x, lambda k, n: jax.random.normal(k, (n, 3)))
    with pytest.raises(ValueError, match="non-finite"):
        sd.dual_potential(key, x, lambda k, n: jnp.full((n, 2), jnp.inf))
    with pytest.raises(ValueError, match="batch_size"):
        sd.dual_potential(key, x, samp, batch_size=0)
    with pytest.raises(ValueError, match="anneal_fraction"):
        sd.dual_potential(key, x, samp, anneal_fraction=1.0)
    with pytest.raises(ValueError, match="g_init"):
        sd.dual_potential(key, x, samp, g_init=jnp.zeros(4))
    with pytest.raises(ValueError, match="g must have shape"):
        sd.evaluate_potential(key, x, samp, jnp.zeros(4))
    with pytest.raises(ValueError, match="non-finite"):
        sd.evaluate_potential(key, x, samp, jnp.full(5, jnp.nan))
    with pytest.raises(ValueError, match="n_eval"):
        sd.evaluate_potential(key, x, samp, jnp.zeros(5), n_eval=0)
