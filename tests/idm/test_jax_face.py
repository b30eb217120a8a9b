"""idm inside JAX: every number of the samplers can be traced, every bad concrete value is refused.

The promises, in the order of the README's "Using idm inside JAX":

* ``c``, ``sigma``, ``scale`` (``"data"`` included) and ``T`` are traced: ``vmap`` over them
  equals the Python loop, ``grad`` equals central differences, and a caller's ``jit`` with the
  data as an argument compiles once per shape;
* a concrete bad value is refused with one ``ValueError`` (times and bandwidths <= 0, non-scalar
  times or bandwidths, non-integer counts, data with ``D = 0``); a traced one is never turned
  into a Python bool.

Sizes are tiny (n = 24 training points in R^3, 16 samples); conftest turns float64 on.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import idm
from idm import cfdm, schedule
from idm.score import denoise, score

N, D, M = 24, 3, 16


def _circle(key, n=N):
    man = idm.manifolds.get("sphere", d=1, D=D, key=jax.random.fold_in(key, 0))
    return man.sample(jax.random.fold_in(key, 1), n)


def _draw(key, data, **kw):
    """IDM with the exact sampler: smooth in sigma and c for a fixed key (common randomness)."""
    return idm.sample(key, data, M, d=1, solver="exact", **kw)


# --- traced numbers ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["c", "sigma", "scale", "T"])
def test_vmap_over_a_number_equals_the_loop(key, name):
    data = _circle(key)
    values = {"c": [0.5, 1.0, 2.0], "sigma": [0.1, 0.3, 0.6], "scale": [0.5, 1.0, 3.0]}
    values["T"] = [2.0, 4.0, 8.0]
    kw = dict(solver="sde", steps=3) if name == "T" else {}
    k = jax.random.fold_in(key, 2)

    def one(v):
        return idm.sample(k, data, M, d=1, **{"solver": "exact", **kw, name: v})

    batched = jax.vmap(one)(jnp.asarray(values[name]))
    looped = jnp.stack([one(v) for v in values[name]])
    # the same operations on the same numbers; only the batching of the GEMMs differs
    np.testing.assert_allclose(batched, looped, rtol=1e-12, atol=1e-12)


def _central(f, x, h):
    return (f(x + h) - f(x - h)) / (2 * h)


@pytest.mark.parametrize(("name", "value"), [("c", 0.8), ("sigma", 0.3)])
def test_grad_through_the_exact_sampler_equals_central_differences(key, name, value):
    """d/dc and d/dsigma of a loss of the samples, float64, h = 1e-5: error O(h^2) ~ 1e-10."""
    data = _circle(key)
    k = jax.random.fold_in(key, 3)

    def loss(v):
        return jnp.mean(jnp.linalg.norm(_draw(k, data, **{name: v}), axis=-1))

    g = jax.jit(jax.grad(loss))(value)
    fd = _central(loss, value, 1e-5)
    assert abs(float(g)) > 1e-3  # a loss that moves with the bandwidth
    np.testing.assert_allclose(g, fd, rtol=1e-6)


def test_grad_in_c_with_scale_data_equals_central_differences(key):
    data = 3.0 * _circle(key) + 1.0
    k = jax.random.fold_in(key, 4)

    def loss(c):
        return jnp.mean(jnp.linalg.norm(_draw(k, data, c=c, scale="data") - 1.0, axis=-1))

    np.testing.assert_allclose(jax.grad(loss)(0.8), _central(loss, 0.8, 1e-5), rtol=1e-6)


def test_jit_with_the_data_as_an_argument_compiles_once_per_shape(key):
    """Two data sets of one shape, ``scale="data"`` measured in jnp: one trace, eager values."""
    traces = []

    @jax.jit
    def f(k, data, c):
        traces.append(data.shape)
        return _draw(k, data, c=c, scale="data")

    k = jax.random.fold_in(key, 5)
    for i in (6, 7):
        data = 2.0 * _circle(jax.random.fold_in(key, i))
        np.testing.assert_allclose(
            f(k, data, 0.7), _draw(k, data, c=0.7, scale="data"), rtol=1e-12, atol=1e-12
        )
    assert len(traces) == 1


def test_length_scale_is_the_same_number_traced_or_not(key):
    data = 2.0 * _circle(key) + 5.0
    eager = schedule.length_scale(data)
    assert isinstance(eager, float)  # host float64, as results record it
    np.testing.assert_allclose(jax.jit(schedule.length_scale)(data), eager, rtol=1e-14)


def test_bandwidth_is_traceable_and_a_python_float_for_python_inputs():
    assert isinstance(schedule.bandwidth(100, 2, 0.5, 2.0), float)
    assert schedule.bandwidth(100, 2, 0.5, 2.0) == 0.5 * 2.0 * 100.0 ** (-1.0 / 6)
    cs = jnp.array([0.5, 1.0])
    np.testing.assert_allclose(
        jax.vmap(lambda c: schedule.bandwidth(100, 2, c))(cs), cs * 100.0 ** (-1 / 6), rtol=1e-15
    )
    np.testing.assert_allclose(
        jax.grad(lambda c: schedule.bandwidth(100, 2, c))(0.3), 100.0 ** (-1 / 6), rtol=1e-15
    )


def test_cfdm_sigma_is_traced(key):
    data = _circle(key)
    k = jax.random.fold_in(key, 8)

    def one(s):
        return cfdm.sample(k, data, M, sigma=s, steps=2)

    sigmas = jnp.array([0.0, 0.2])
    np.testing.assert_allclose(
        jax.vmap(one)(sigmas), jnp.stack([one(s) for s in sigmas]), rtol=1e-12, atol=1e-12
    )


def test_a_traced_time_is_not_checked_and_t_zero_gives_nan(key):
    """What the docstring of ``score`` says happens under ``jit``."""
    data = _circle(key)
    assert bool(jnp.all(jnp.isnan(jax.jit(score)(data[:2], data, 0.0))))


# --- refusals of concrete values -----------------------------------------------------------


@pytest.mark.parametrize("fn", [score, denoise])
@pytest.mark.parametrize(
    ("t", "match"),
    [
        (0.0, "t must be > 0"),
        (-0.1, "t must be > 0"),
        (np.nan, "t must be > 0"),
        (np.ones(2), "t must be a scalar"),
    ],
)
def test_score_refuses_times_that_are_not_positive_scalars(key, fn, t, match):
    data = _circle(key)
    with pytest.raises(ValueError, match=match):
        fn(data[0], data, t)


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        (dict(sigma=jnp.array([0.1, 0.2])), "sigma must be a scalar"),
        (dict(sigma=0.0), "sigma must be > 0"),
        (dict(c=0.0), "c must be > 0"),
        (dict(c=-1.0), "c must be > 0"),
        (dict(c=np.nan), "c must be > 0"),
        (dict(c=jnp.ones(2)), "c must be a scalar"),
        (dict(T=jnp.ones(2), solver="sde"), "T must be a scalar"),
        (dict(scale=-1.0), "scale must be > 0"),
        (dict(scale=jnp.ones(2)), "scale must be a scalar"),
        (dict(num_samples=10.7), "num_samples must be an integer"),
        (dict(num_samples=True), "num_samples must be an integer"),
        (dict(num_samples=0), "num_samples must be >= 1"),
        (dict(steps=2.5, solver="sde"), "steps must be an integer"),
        (dict(steps=0, solver="ode"), "steps must be >= 1"),
    ],
)
def test_sample_refuses_bad_concrete_values(key, kw, match):
    data = _circle(key)
    kw = {"num_samples": 4, "d": 1, **kw}
    with pytest.raises(ValueError, match=match):
        idm.sample(key, data, kw.pop("num_samples"), **kw)


def test_integral_counts_are_accepted(key):
    data = _circle(key)
    a = idm.sample(key, data, np.int64(4), d=1, solver="sde", steps=3.0)
    np.testing.assert_array_equal(a, idm.sample(key, data, 4, d=1, solver="sde", steps=3))


def test_data_without_coordinates_are_refused(key):
    with pytest.raises(ValueError, match="D >= 1"):
        idm.sample(key, jnp.zeros((5, 0)), 3, d=1)
    with pytest.raises(ValueError, match="D >= 1"):
        score(jnp.zeros(0), jnp.zeros((5, 0)), 0.1)


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        (dict(num_samples=10.7), "num_samples must be an integer"),
        (dict(steps=2.5), "steps must be an integer"),
        (dict(num_perturbations=False), "num_perturbations must be an integer"),
        (dict(sigma=jnp.ones(2)), "sigma must be a scalar"),
        (dict(sigma=-0.1), "sigma must be >= 0"),
        (dict(t_end=0.0), "t_end must be > 0"),
    ],
)
def test_cfdm_refuses_bad_concrete_values(key, kw, match):
    kw = {"num_samples": 4, "sigma": 0.1, **kw}
    with pytest.raises(ValueError, match=match):
        cfdm.sample(key, _circle(key), kw.pop("num_samples"), **kw)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((100, 2, 0.0), "c must be > 0"),
        ((100, 2, -0.5), "c must be > 0"),
        ((100, 2, 1.0, 0.0), "scale must be > 0"),
        ((100, 0, 1.0), "intrinsic dimension"),
        ((1, 2), "n must be >= 2"),
        ((100.5, 2), "n must be an integer"),
    ],
)
def test_bandwidth_refuses_bad_concrete_values(args, match):
    with pytest.raises(ValueError, match=match):
        schedule.bandwidth(*args)
