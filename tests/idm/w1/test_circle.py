"""The circle's monotone coupling with the uniform circle (idm.w1.circle): closed forms."""

import jax
import numpy as np
import pytest
from floats import below
from laws import SMALL, circle_grid, exact_w1, grid_w1, radial

from idm.w1 import circle, law


@pytest.mark.parametrize("r", [0.95, 0.8])
def test_shrunk_circle_closed_form(key, r):
    """The uniform law on the circle of radius r: W1 to the unit circle is 1 - r exactly."""

    def draw(k, m):
        return r * circle_grid(k, m)

    res = law.bracket(key, draw, circle_grid, distance=radial, circle=True, **SMALL)
    assert res.method == "bracket"
    assert res.converged
    assert below(res.lower, 1 - r)
    assert below(1 - r, res.upper)
    assert abs(res.value - (1 - r)) <= res.error + 1e-12
    assert res.rel_error < 0.01


def test_monotone_coupling_is_a_coupling_and_tangential_closed_form(key):
    x = 0.9 * circle_grid(key, 300)[np.random.default_rng(0).permutation(300)]
    c = circle.monotone(x)
    exact = exact_w1(x, circle_grid(jax.random.fold_in(key, 1), 2**13))
    assert below(exact - grid_w1(2**13), c.cost)  # a coupling's cost is an upper bound
    # a uniform ring: the coupling spreads each point over its arc, centred on it (up to the
    # golden-section search's shift, to which the cost is flat to second order)
    t = np.linspace(-np.pi / 300, np.pi / 300, 200001)
    assert c.cost == pytest.approx(np.mean(np.sqrt(1.81 - 1.8 * np.cos(t))), rel=1e-7)
    # all mass at angle 0 against the uniform circle: W1 with the arc cost is pi / 2
    assert circle.tangential(np.tile([[1.0, 0.0]], (1000, 1))) == pytest.approx(np.pi / 2, 1e-3)
