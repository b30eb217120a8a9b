"""The radial-tangential lower bound: its closed form, its Kantorovich pair, exact OT above it."""

import numpy as np
import pytest
from floats import below
from laws import exact_w1

from idm.w1 import potential, sphere


def _uniform_sphere(rng, k, dim=3):
    g = rng.normal(size=(k, dim))
    return g / np.linalg.norm(g, axis=1, keepdims=True)


def _capped(rng, k, rho, dim=3):
    """Directions piled towards the north pole (non-uniform), at radius rho."""
    u = _uniform_sphere(rng, 4 * k, dim)
    keep = rng.uniform(size=len(u)) < (1 + u[:, -1]) / 2
    return rho * u[keep][:k]


@pytest.mark.parametrize("b", [0.0, 0.2, 0.7, 0.99, 1.3])
def test_closed_form_is_the_minimum_over_t(b):
    """Phi_b(x) = min over t in [0, 2] of sqrt((1 - rho)^2 + rho t^2) - b t, from below."""
    rng = np.random.default_rng(0)
    rho = np.concatenate([rng.uniform(0.01, 1.6, 300), [1.0, 0.5, b * b + 1e-9]])
    x = rho[:, None] * _uniform_sphere(rng, len(rho))
    t = np.linspace(0, 2, 200001)
    brute = np.min(np.sqrt((1 - rho[:, None]) ** 2 + rho[:, None] * t**2) - b * t, axis=1)
    phi = sphere.radial_tangential(x, b)
    assert np.all(phi <= brute)
    assert np.max(brute - phi) < 1e-8  # the grid's own resolution (t step 1e-5, slope <= 2)


def test_b_zero_is_the_distance_to_the_sphere():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(100, 4))
    assert np.allclose(sphere.radial_tangential(x, 0.0), np.abs(1 - np.linalg.norm(x, axis=1)))


def test_the_pair_is_feasible():
    """phi(x) + psi(y) <= |x - y| for every x off and y on the sphere (any potential, any b)."""
    rng = np.random.default_rng(2)
    anchors = _uniform_sphere(rng, 64)
    v = rng.normal(size=64) * 0.3
    x = rng.uniform(0.3, 1.4, (400, 1)) * _uniform_sphere(rng, 400)
    y = _uniform_sphere(rng, 400)
    for b in (0.1, 0.5, 0.9):
        u = x / np.linalg.norm(x, axis=1, keepdims=True)
        f = lambda z: np.min(np.linalg.norm(z[:, None] - anchors[None], axis=2) - v, axis=1)  # noqa: E731
        phi = sphere.radial_tangential(x, b) + b * f(u)
        psi = -b * f(y)
        gap = np.linalg.norm(x[:, None] - y[None], axis=2) - phi[:, None] - psi[None, :]
        assert gap.min() >= -1e-12


@pytest.mark.parametrize(("rho", "dim"), [(0.97, 3), (0.9, 3), (0.9, 4)])
def test_below_exact_ot_and_above_the_radial_bound(rho, dim):
    """Discrete laws stand in for both sides (the pair holds for any law on the sphere), so the
    bound on every atom is exact: it lies below exact OT, and for piled-up directions well above
    the radial bound 1 - rho."""
    rng = np.random.default_rng(3)
    x = _capped(rng, 1500, rho, dim)
    y = _uniform_sphere(rng, 1500, dim)
    exact = exact_w1(x, y)
    anchors = _uniform_sphere(rng, 256, dim)
    v = sphere.tangential_potential(_capped(rng, 4000, rho, dim), anchors, dim - 1)
    b = sphere.best_b(_capped(rng, 2000, rho, dim), _uniform_sphere(rng, 2000, dim), anchors, v)
    bound = sphere.lower(x, y, anchors, v, b)
    assert below(bound, exact), (bound, exact)
    assert bound > (1 - rho) + 0.3 * (exact - (1 - rho)), (bound, 1 - rho, exact)


def test_sides_add_up_to_the_bound():
    rng = np.random.default_rng(4)
    x, y = _capped(rng, 300, 0.95), _uniform_sphere(rng, 300)
    anchors = _uniform_sphere(rng, 64)
    v = rng.normal(size=64) * 0.1
    total = sphere.lower(x, y, anchors, v, 0.4)
    parts = sphere.law_side(x, anchors, v, 0.4) - sphere.population_side(y, anchors, v, 0.4)
    assert total == parts
    f_law = potential.c_transform_mean(x / np.linalg.norm(x, axis=1, keepdims=True), anchors, v)
    f_pop = potential.c_transform_mean(y, anchors, v)
    exact_mean = np.mean(sphere.radial_tangential(x, 0.4)) + 0.4 * (f_law - f_pop)
    assert below(total, exact_mean)  # the allowances push it to the low side
    assert exact_mean - total < 1e-5


def test_sphere_volume_closed_forms():
    assert np.isclose(sphere.sphere_volume(1), 2 * np.pi)
    assert np.isclose(sphere.sphere_volume(2), 4 * np.pi)
    assert np.isclose(sphere.sphere_volume(3), 2 * np.pi**2)


def test_negative_b_is_refused():
    with pytest.raises(ValueError, match="b must be"):
        sphere.radial_tangential(np.ones((2, 3)), -0.1)
