"""Tests for idm.manifolds: exact samplers, frames, projections, distances, laws, jit.

Compilation dominates the run time here (about 0.5 s per random-number program on CPU), so the
manifolds and their samples are built once per module, every sample has the same size N, and
test-side randomness and arithmetic use numpy.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special, stats

from idm import manifolds

N = 8192
CASES = [("circle", 1, 2), ("sphere", 2, 7), ("vmf_sphere", 4, 9), ("torus", 3, 11)]


@functools.cache
def _manifold(name, d, D, kappa=None):
    kwargs = {} if kappa is None else {"kappa": kappa}
    return manifolds.get(name, d=d, D=D, key=jax.random.key(d * 1000 + D), **kwargs)


@functools.cache
def _samples(name, d, D, kappa=None):
    """(N, D) float64 samples and their (N, k) canonical coordinates, as numpy arrays."""
    m = _manifold(name, d, D, kappa)
    x = np.asarray(m.sample(jax.random.key(7), N))
    return x, x @ np.asarray(m.frame).T


def _rng(*seed):
    return np.random.default_rng(seed)


@pytest.mark.parametrize(("name", "d", "D"), CASES)
def test_samples_frame_projection(name, d, D):
    m = _manifold(name, d, D)
    k = 2 * d if name == "torus" else d + 1
    assert (m.name, m.d, m.D, m.embedding_dim) == (name, d, D, k)
    frame = np.asarray(m.frame)
    assert frame.shape == (k, D)
    assert m.frame.dtype == jnp.float64
    np.testing.assert_allclose(frame @ frame.T, np.eye(k), atol=1e-13)

    x, _ = _samples(name, d, D)
    assert x.shape == (N, D)
    assert float(jnp.max(m.distance(x))) < 1e-12
    np.testing.assert_allclose(m.project(x), x, atol=1e-13)

    z = x + 0.7 * _rng(1).standard_normal(x.shape)
    p = np.asarray(m.project(z))
    np.testing.assert_allclose(m.project(p), p, atol=1e-13)  # idempotent
    assert float(jnp.max(m.distance(p))) < 1e-12
    np.testing.assert_allclose(m.distance(z), np.linalg.norm(z - p, axis=-1), rtol=1e-12)
    # a single (D,) point
    assert m.distance(z[0]).shape == ()
    np.testing.assert_allclose(m.distance(z[0]), np.linalg.norm(z[0] - p[0]), rtol=1e-12)
    np.testing.assert_allclose(m.project(z[0]), p[0], atol=1e-14)


@pytest.mark.parametrize(
    ("name", "d", "D", "tol"), [("circle", 1, 2, 1e-3), ("sphere", 2, 7, 0.05)]
)
def test_projection_is_nearest_point(name, d, D, tol):
    m = _manifold(name, d, D)
    s, _ = _samples(name, d, D)
    x = 0.8 * _rng(2).standard_normal((N, D))
    dist = np.asarray(m.distance(x))
    brute = np.min(np.linalg.norm(x[:64, None, :] - s[None, :, :], axis=-1), axis=1)
    assert np.all(dist[:64] <= brute + 1e-12)
    assert np.max(brute - dist[:64]) < tol  # N samples come close to the nearest point
    # re-projected moves of the projection along the manifold never get closer
    p = np.asarray(m.project(x))
    for i in range(3):
        q = np.asarray(m.project(p + 0.1 * _rng(3, i).standard_normal(p.shape)))
        assert np.all(np.linalg.norm(x - q, axis=-1) >= dist - 1e-12)


@pytest.mark.parametrize(("name", "d", "D"), CASES)
def test_normal_displacement_distance(name, d, D):
    m = _manifold(name, d, D)
    frame = np.asarray(m.frame)
    s, y = _samples(name, d, D)
    rng = _rng(4)
    # in-frame normal directions: radial for spheres, a mix of pair-radial ones for the torus
    if name == "torus":
        a = rng.standard_normal((N, d, 1))
        n_in = (y.reshape(N, d, 2) * a).reshape(N, 2 * d) @ frame
    else:
        n_in = s
    g = rng.standard_normal((N, D))
    off = g - (g @ frame.T) @ frame  # orthogonal to the frame
    # when D equals the embedding dimension there is no off-frame direction
    directions = [n_in] if D == m.embedding_dim else [n_in, off, n_in + off]
    for nu in directions:
        nu = nu / np.linalg.norm(nu, axis=-1, keepdims=True)
        for delta in (0.05, 0.3, -0.05, -0.3):
            np.testing.assert_allclose(m.distance(s + delta * nu), abs(delta), rtol=1e-12)


@pytest.mark.parametrize(("name", "d", "D"), CASES[:2])
def test_uniform_sphere_moments(name, d, D):
    _, y = _samples(name, d, D)
    p = d + 1
    for values, target in [
        (y, np.zeros(p)),
        ((y[:, :, None] * y[:, None, :]).reshape(N, p * p), np.eye(p).ravel() / p),
    ]:
        se = values.std(axis=0) / np.sqrt(N)
        assert np.all(np.abs(values.mean(axis=0) - target) < 4.5 * se)


def test_torus_angles_uniform_and_independent():
    d = 3
    _, y = _samples("torus", d, 11)
    angles = np.mod(np.arctan2(y[:, 1::2], y[:, 0::2]), 2 * np.pi)
    for j in range(d):
        assert stats.kstest(angles[:, j] / (2 * np.pi), "uniform").pvalue > 1e-3
    # first Fourier moments E[exp(i a_j)] = 0 and E[exp(i (a_j - a_k))] = 0 for j != k
    bound = 4.5 / np.sqrt(N)  # each real and imaginary part has variance 1/2
    assert np.all(np.abs(np.exp(1j * angles).mean(axis=0)) < bound)
    for j in range(d):
        for k in range(j + 1, d):
            assert abs(np.exp(1j * (angles[:, j] - angles[:, k])).mean()) < bound


@pytest.mark.parametrize(("d", "D", "kappa"), [(1, 2, 20.0), (2, 7, 0.5), (4, 9, 2.0)])
def test_vmf_mean_resultant_length(d, D, kappa):
    m = _manifold("vmf_sphere", d, D, kappa)
    assert m.kappa == kappa
    np.testing.assert_array_equal(m.mean_direction, m.frame[0])
    _, y = _samples("vmf_sphere", d, D, kappa)
    p = d + 1
    w = y[:, 0]
    target = special.ive(p / 2, kappa) / special.ive(p / 2 - 1, kappa)
    assert abs(w.mean() - target) < 4 * w.std() / np.sqrt(N)
    rest = y[:, 1:]  # isotropic orthogonal part
    assert np.all(np.abs(rest.mean(axis=0)) < 4.5 * rest.std(axis=0) / np.sqrt(N))
    # exact marginals: the circle's angle is von Mises; on S^2, w has density
    # kappa exp(kappa w) / (2 sinh kappa) on [-1, 1]
    if d == 1:
        angle = np.arctan2(y[:, 1], y[:, 0])
        assert stats.kstest(angle, stats.vonmises(kappa).cdf).pvalue > 1e-3
    if d == 2:
        cdf = lambda t: np.expm1(kappa * (t + 1)) / np.expm1(2 * kappa)  # noqa: E731
        assert stats.kstest(w, cdf).pvalue > 1e-3


@pytest.mark.parametrize("name", ["sphere", "torus"])
def test_high_ambient_dimension(key, name):
    m = manifolds.get(name, d=8, D=10_000, key=key)
    x = m.sample(jax.random.fold_in(key, 1), 16)
    assert x.shape == (16, 10_000)
    assert float(jnp.max(m.distance(x))) < 1e-12
    frame = np.asarray(m.frame)
    np.testing.assert_allclose(frame @ frame.T, np.eye(m.embedding_dim), atol=1e-12)
    z = np.asarray(x) + 0.01 * _rng(5).standard_normal(x.shape)
    np.testing.assert_allclose(m.distance(z), np.linalg.norm(z - m.project(z), axis=-1))


def test_float32():
    with jax.enable_x64(False):
        m = manifolds.get("torus", d=2, D=50, key=jax.random.key(0))
        x = m.sample(jax.random.key(1), 256)
        assert m.frame.dtype == x.dtype == jnp.float32
        dist = m.distance(x)
        assert dist.dtype == jnp.float32
        assert float(jnp.max(dist)) < 1e-5
        z = x + jnp.asarray(0.2 * _rng(6).standard_normal(x.shape), jnp.float32)
        np.testing.assert_allclose(m.distance(m.project(z)), 0, atol=1e-5)


def test_jit_with_manifold_argument(key):
    m = _manifold("vmf_sphere", 4, 9)
    leaves, treedef = jax.tree_util.tree_flatten(m)
    assert len(leaves) == 1
    assert leaves[0] is m.frame
    rebuilt = jax.tree_util.tree_unflatten(treedef, leaves)
    assert type(rebuilt) is type(m)
    assert (rebuilt.name, rebuilt.kappa) == (m.name, m.kappa)

    traces = []

    @jax.jit
    def f(man, k):
        traces.append(man.name)
        x = man.sample(k, N)
        return x, man.distance(x + 0.1)

    x, dist = f(m, jax.random.key(7))
    np.testing.assert_allclose(x, _samples("vmf_sphere", 4, 9)[0], atol=1e-14)
    np.testing.assert_allclose(dist, m.distance(x + 0.1), rtol=1e-13)
    # a manifold of the same kind and shape reuses the compiled function
    m2 = manifolds.get("vmf_sphere", d=4, D=9, key=key)
    x2, dist2 = f(m2, jax.random.key(7))
    np.testing.assert_allclose(dist2, m2.distance(x2 + 0.1), rtol=1e-13)
    assert len(traces) == 1


def test_frozen_and_reproducible(key):
    m = _manifold("torus", 3, 11)
    with pytest.raises(AttributeError):
        m.d = 3
    again = manifolds.get("torus", d=3, D=11, key=jax.random.key(3011))
    np.testing.assert_array_equal(m.frame, again.frame)
    other = manifolds.get("torus", d=3, D=11, key=key)
    assert not np.allclose(m.frame, other.frame)


def test_bad_inputs(key):
    with pytest.raises(ValueError, match=r"unknown manifold 'cube'.*sphere.*torus"):
        manifolds.get("cube", d=2, D=5, key=key)
    with pytest.raises(ValueError, match=r"d=2.*D >= 3.*D=2"):
        manifolds.get("sphere", d=2, D=2, key=key)
    with pytest.raises(ValueError, match=r"d=3.*D >= 6.*D=5"):
        manifolds.get("torus", d=3, D=5, key=key)
    with pytest.raises(ValueError, match=r"d=2"):
        manifolds.get("circle", d=2, D=5, key=key)
    with pytest.raises(ValueError, match=r"d=0"):
        manifolds.get("sphere", d=0, D=5, key=key)
    with pytest.raises(ValueError, match="kappa"):
        manifolds.get("vmf_sphere", d=2, D=5, key=key, kappa=-1.0)
    with pytest.raises(ValueError, match="kappa"):
        manifolds.get("sphere", d=2, D=5, key=key, kappa=1.0)
