"""The H^-1 upper bound on S^d: its coefficients, kernel, pair sums, density floor, and exact OT
below it."""

import math

import jax
import numpy as np
import pytest
from floats import below
from laws import exact_w1

from idm import schedule
from idm.schedule import bandwidth
from idm.w1 import sobolev as sb


def _sphere(rng, k, d):
    g = rng.normal(size=(k, d + 1))
    return g / np.linalg.norm(g, axis=1, keepdims=True)


@pytest.mark.parametrize(("d", "sigma"), [(1, 0.5), (2, 0.4), (3, 0.35)])
def test_coefficients_against_monte_carlo(d, sigma):
    """k_l = E P_l(<p, x>) for p the projected normal: within 4 MC standard errors."""
    rng = np.random.default_rng(d)
    s = sigma**2
    a, v = float(schedule.alpha(s)), float(schedule.var(s))
    y = a * np.eye(d + 1)[0] + math.sqrt(v) * rng.normal(size=(200_000, d + 1))
    P = sb.gegenbauer(d, 10, y[:, 0] / np.linalg.norm(y, axis=1))
    mc, se = P.mean(axis=1), P.std(axis=1) / math.sqrt(P.shape[1])
    pn = sb.projected_normal(d, sigma, 10)
    assert abs(pn.k[0] - 1.0) < 1e-10  # the density integrates to one
    assert np.all(np.abs(pn.k - mc) <= 4 * se + 1e-12), (pn.k, mc, se)
    assert np.all(pn.k > 0)  # a positive mixture of exp(kappa r c)
    assert pn.quad_error < 1e-10


@pytest.mark.parametrize("d", [1, 2, 4])
def test_density_is_its_harmonic_series(d):
    """f(c) (closed form) = sum_l k_l N_l P_l(c) once the series has converged."""
    pn = sb.projected_normal(d, 0.5, 120)
    c = np.array([-1.0, -0.3, 0.2, 0.9, 1.0])
    series = (pn.k * pn.dims) @ sb.gegenbauer(d, 120, c)
    assert np.allclose(series, pn.density(c), rtol=1e-9, atol=1e-9)


def test_dimensions_and_polynomials():
    assert np.allclose(sb.degree_dims(1, 4), [1, 2, 2, 2, 2])
    assert np.allclose(sb.degree_dims(2, 4), [1, 3, 5, 7, 9])
    assert np.allclose(sb.degree_dims(3, 3), [1, 4, 9, 16])
    t = np.linspace(-1, 1, 7)
    assert np.allclose(sb.gegenbauer(1, 5, t)[5], np.cos(5 * np.arccos(t)), atol=1e-13)
    assert np.allclose(sb.gegenbauer(2, 3, t)[3], (5 * t**3 - 3 * t) / 2, atol=1e-14)


def test_kernel_table_within_its_bounds():
    """The table read at off-grid t is within interp of the truncated series, and the truncated
    series within tail of a four times longer one."""
    d = 2
    pn = sb.projected_normal(d, 0.3, 8)
    long = sb.projected_normal(d, 0.3, 96)
    table = sb.kernel_table(pn, 2**8, 4)
    t = np.array([-0.77, 0.1234, 0.9, 0.99, 0.9995])
    grid = np.linspace(-1, 1, table.size + 1)
    read = np.interp(t, grid, table.values[:, 0])

    def series(q, L):
        lam = sb.eigenvalues(d, L)
        return (q.k[1:] ** 2 * q.dims[1:] / lam[1:]) @ sb.gegenbauer(d, L, t)[1:]

    direct, longer = series(pn, 8), series(long, 96)
    assert np.all(np.abs(read - direct) <= table.interp), (read - direct, table.interp)
    assert np.all(np.abs(longer - direct) <= table.tail), (longer - direct, table.tail)
    assert np.max(np.abs(longer - direct)) > 0.01 * table.tail  # the tail bound is not loose


def test_error_terms_shrink():
    """The interpolation allowance falls as h^2, the tail as L grows."""
    pn = sb.projected_normal(3, 0.3, 16)
    interps = [sb.kernel_table(pn, 2**b, 4).interp for b in (8, 10, 12)]
    assert np.allclose(np.array(interps[:-1]) / interps[1:], 16.0, rtol=1e-6)
    tails = [sb.kernel_table(sb.projected_normal(3, 0.3, L), 2**8, 4).tail for L in (8, 16, 32)]
    assert tails[0] > 10 * tails[1] > 100 * tails[2]


@pytest.mark.parametrize("d", [1, 3])
def test_pair_sums_against_a_double_loop(d):
    """H, J and S_l against a float64 double loop over every pair, within the allowances."""
    rng = np.random.default_rng(7)
    n, L = 150, 24
    x = _sphere(rng, n, d)
    pn = sb.projected_normal(d, 0.35, L)
    table = sb.kernel_table(pn, 2**10, 5)
    sums = sb.pair_sums(x, pn, table, block=64)  # three blocks, padding included
    G = np.clip(x @ x.T, -1, 1)
    P = sb.gegenbauer(d, L, G)
    S = P.mean(axis=(1, 2))
    lam = sb.eigenvalues(d, L)
    H = float(np.sum(pn.k[1:] ** 2 * pn.dims[1:] / lam[1:] * S[1:]))
    low = np.einsum("l,lij->ij", pn.k[:6] * pn.dims[:6], P[:6])
    J = float(np.mean(pn.density(G) - low))
    assert abs(sums.H - H) <= sums.interp + sums.rounding, (sums.H, H)
    assert below(H, sums.H_upper)
    assert below(J, sums.J_upper)
    assert sums.J_upper - J < 2 * table.J_interp + 1e-12
    assert np.all(S[:6] <= sums.S + 1e-15)
    assert np.allclose(sums.S, S[:6], rtol=0, atol=1e-12)


@pytest.mark.parametrize(("d", "n"), [(1, 60), (2, 120)])
def test_density_floor_is_below_the_density(d, n):
    """a <= min over p of nu's density (1/n) sum_i f(<p, x_i>), at many p."""
    rng = np.random.default_rng(3)
    x = _sphere(rng, n, d)
    sigma = 0.45
    pn = sb.projected_normal(d, sigma, 48)
    table = sb.kernel_table(pn, 2**12, 6)
    a = sb.density_floor(pn, table, sb.pair_sums(x, pn, table))
    p = _sphere(rng, 20_000, d)
    density = pn.density(np.clip(p @ x.T, -1, 1)).mean(axis=1)
    assert a > 0  # the test must exercise the density factor
    assert a <= density.min(), (a, density.min())
    assert sb.transport_factor(a) < 4.0
    assert sb.transport_factor(-0.5) == 4.0


def test_tangent_majorises_the_square_root():
    X = np.linspace(0, 3, 301)[:, None]
    B = np.linspace(0, 3, 301)[None, :]
    for A in (0.05, 0.3, 1.0):
        assert np.all(np.sqrt(X + B) <= sb.g_A(X, A) + B / (2 * A) + 1e-15)


def test_draws_are_outputs_of_their_noisy_points(key):
    rng = np.random.default_rng(2)
    x = _sphere(rng, 50, 2)
    y, out = sb.draw(key, x, 64, 0.4)
    assert y.shape == out.shape == (64, 3)
    assert np.all(np.linalg.norm(out, axis=1) <= 1 + 1e-12)  # convex combinations of the data
    y2, out2 = sb.draw(key, x, 64, 0.4)
    assert np.array_equal(y, y2)
    assert np.array_equal(out, out2)


@pytest.mark.parametrize(("d", "n"), [(1, 200), (2, 300)])
def test_bound_above_exact_ot(key, d, n):
    """Both factors (F = 4 and the density's) give bounds above exact OT between 1000 IDM
    draws and 4000 uniform points, less that OT's sampling floor (exact OT of 1000 uniform
    points to the same 4000), and the bound is not vacuous (below twice exact OT)."""
    rng = np.random.default_rng(11)
    x = _sphere(rng, n, d)
    sigma = bandwidth(n, d, 1.0)
    res = sb.upper(key, x, sigma, m=2**12, m_pilot=2**10)
    _, out = sb.draw(jax.random.fold_in(key, 99), x, 1000, sigma)
    U = _sphere(rng, 4000, d)
    exact = exact_w1(out, U)
    floor = exact_w1(_sphere(rng, 1000, d), U)
    assert res.a > 0
    assert res.F < 4.0
    assert below(exact - floor, res.value), (res.value, exact, floor)
    assert below(res.value, res.value_F4)
    assert res.value < 2 * exact
    assert res.value == res.mean + res.z * res.mean_se + res.transport
    assert res.H_upper >= res.H + res.tail + res.interp


def test_refuses_points_off_the_sphere(key):
    with pytest.raises(ValueError, match="unit sphere"):
        sb.upper(key, 2 * np.eye(3), 0.3)
