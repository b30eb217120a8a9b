import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from idm import _search, bandwidth, manifolds, schedule

N, M = 200, 64  # one data size and sample count throughout: the sampler compiles once
G = (math.sqrt(5.0) - 1.0) / 2.0


def _circle(key, n, D=4):
    man = manifolds.get("circle", d=1, D=D, key=jax.random.fold_in(key, 0))
    return man, man.sample(jax.random.fold_in(key, 1), n)


def _counted(f):
    calls = []

    def g(x):
        calls.append(x)
        return f(x)

    return g, calls


def _both_points_every_step(f, lo, hi, steps):
    """The search as the committed circle fits ran it: both interior points every step."""
    for _ in range(steps):
        a, b = hi - G * (hi - lo), lo + G * (hi - lo)
        if f(a) < f(b):
            hi = b
        else:
            lo = a
    return lo, hi


@pytest.mark.parametrize("x0", [0.1, 0.37, 0.5, 0.9])
def test_golden_section_evaluates_one_point_per_step_and_keeps_the_minimum(x0):
    f, calls = _counted(lambda x: (x - x0) ** 2)
    lo, hi = _search.golden_section(f, 0.0, 1.0, 20)
    assert len(calls) == 21  # two to start, then one per step
    assert len(set(calls)) == 21
    assert lo <= x0 <= hi
    assert hi - lo == pytest.approx(G**20, rel=1e-9)  # the golden ratio's contraction
    ref = _both_points_every_step(lambda x: (x - x0) ** 2, 0.0, 1.0, 20)
    np.testing.assert_allclose((lo, hi), ref, rtol=0, atol=1e-14)  # the same search
    assert _search.golden_section(f, 0.0, 1.0, 0) == (0.0, 1.0)
    assert len(calls) == 21


def test_golden_section_recomputed_is_the_committed_search_with_fewer_calls():
    rng = np.random.default_rng(0)
    for _ in range(20):
        w = rng.uniform(0.5, 2.0, 7)
        c = rng.uniform(-1.0, 1.0, 7)

        def f(x, w=w, c=c):  # a convex sum of kinks, float64 rounding everywhere
            return float(np.sum(w * np.sqrt((x - c) ** 2 + 1e-6)))

        g, calls = _counted(f)
        ref = _both_points_every_step(f, -2.0, 2.0, 30)
        assert _search.golden_section_recomputed(g, -2.0, 2.0, 30) == ref  # bit for bit
        assert len(calls) == len(set(calls)) < 60


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


def test_the_record_is_every_evaluation_in_order(key):
    """Each path entry is the criterion and copy fraction at its c, recomputed from the keys;
    grid first (ascending), then the guard's bisections, then steps + 1 search points."""
    _, data = _circle(key, N)
    grid, steps, guard_steps = (1 / 32, 1 / 8, 0.5, 1.0), 3, 4
    res = bandwidth.select_c(jax.random.fold_in(key, 2), data, 1, num_samples=M, scale=1.0,
                             grid=grid, steps=steps, guard_steps=guard_steps)  # fmt: skip
    stages = res.path_stage
    assert stages == ("grid",) * 4 + ("guard",) * guard_steps + ("search",) * (steps + 1)
    assert res.evaluations == len(res.path_c) == 4 + guard_steps + steps + 1
    assert res.grid_c.tolist() == list(grid)
    assert len(set(res.path_c.tolist())) == res.evaluations  # each c once
    k = jax.random.fold_in(key, 2)
    unit, _ = schedule.to_unit_scale(data, 1.0)  # the coordinates the selection runs in
    train, val = bandwidth.split(jax.random.fold_in(k, 0), unit, 0.2)
    assert (res.n_train, res.n_val) == (train.shape[0], val.shape[0]) == (N - N // 5, N // 5)
    for i in (0, 5, len(res.path_c) - 1):
        c = float(res.path_c[i])
        w = bandwidth.w1_criterion(jax.random.fold_in(k, 1), train, val, c, 1, num_samples=M)
        assert w == res.path_criterion[i]
    at = res.path_c.tolist().index(res.c)
    assert res.criterion == res.path_criterion[at]
    np.testing.assert_allclose(res.sigma, res.c * N ** (-1 / 5), rtol=1e-15)
    digest = bandwidth.summary(res)
    assert digest["evaluations"] == res.evaluations
    assert digest["path_stage"] == list(stages)


def test_without_the_guard_c_is_the_brute_force_minimum_within_the_search_tolerance(key):
    """Guard off: the held-out W1 on a fine grid of log c (brute force) has its minimum where
    the selector put c, to within the golden section's final bracket."""
    # S^6 in R^7: at this n the held-out W1 has an interior minimum in c (on the circle it
    # falls all the way to copying; the guard's test is below)
    man = manifolds.get("sphere", d=6, D=7, key=jax.random.fold_in(key, 5))
    data = man.sample(jax.random.fold_in(key, 6), N)
    grid, steps = (0.25, 0.5, 1.0, 2.0, 4.0), 8
    k = jax.random.fold_in(key, 7)
    res = bandwidth.select_c(k, data, 6, num_samples=M, scale=1.0, grid=grid, steps=steps,
                             max_copy_fraction=None)  # fmt: skip
    assert math.isnan(res.c_guard)
    assert res.decided_by == "criterion"
    best_grid = float(res.grid_c[np.argmin(res.grid_criterion)])
    assert 0.25 < best_grid < 4.0  # an interior minimum on the grid: the search is bracketed
    lo, hi = math.log(best_grid / 2), math.log(best_grid * 2)  # its grid neighbours
    unit, _ = schedule.to_unit_scale(data, 1.0)
    train, val = bandwidth.split(jax.random.fold_in(k, 0), unit, 0.2)
    fine = np.linspace(lo, hi, 41)
    values = [
        bandwidth.w1_criterion(
            jax.random.fold_in(k, 1), train, val, math.exp(x), 6, num_samples=M
        )  # fmt: skip
        for x in fine
    ]
    brute = fine[int(np.argmin(values))]
    tolerance = (hi - lo) * G**steps + (fine[1] - fine[0])
    assert abs(math.log(res.c) - brute) <= tolerance
    assert res.criterion <= res.grid_criterion.min()  # never worse than the grid


@pytest.mark.parametrize(
    ("data_shape", "kwargs"),
    [
        ((40,), {}),
        ((3, 2), {}),
        ((40, 2), {"d": 0}),
        ((40, 2), {"d": 1.5}),
        ((40, 2), {"val_fraction": 1.2}),
        ((40, 2), {"val_fraction": 0.0}),
        ((40, 2), {"grid": (0.5, -1.0)}),
        ((40, 2), {"c_init": 0.0}),
        ((40, 2), {"steps": -1}),
        ((40, 2), {"guard_steps": -1}),
        ((40, 2), {"guard_margin": 0.0}),
        ((40, 2), {"num_samples": 1}),
        ((40, 2), {"scale": -1.0}),
    ],
)
def test_bad_input_raises(key, data_shape, kwargs):
    data = jax.random.normal(key, data_shape)
    kwargs = {"d": 1, **kwargs}
    d = kwargs.pop("d")
    with pytest.raises(ValueError):
        bandwidth.select_c(key, data, d, **kwargs)


def test_nonfinite_data_raises(key):
    data = jax.random.normal(key, (40, 2)).at[3, 1].set(jnp.nan)
    with pytest.raises(ValueError):
        bandwidth.select_c(key, data, 1)


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
    target = 0.6 * 0.01  # guard_margin * max_copy_fraction
    order = np.argsort(res.path_c)
    cs, copies = res.path_c[order], res.path_copy_fraction[order]
    at = int(np.flatnonzero(cs == res.c_guard)[0])
    assert copies[at] <= target
    assert copies[at - 1] > target  # the bisection's other end
    assert cs[at] / cs[at - 1] < 1.02  # 8 bisections of a factor 4
    assert res.c >= res.c_guard
    assert res.decided_by in ("guard", "criterion")
    if res.decided_by == "guard":
        assert res.c == res.c_guard
    # every allowed point copies at most the target, and none has a smaller criterion than c
    allowed = (res.path_c >= res.c_guard) & (res.path_copy_fraction <= target)
    assert res.criterion == res.path_criterion[allowed].min()


def test_when_no_grid_value_passes_the_guard_the_largest_is_taken(key):
    _, data = _circle(key, N)
    res = bandwidth.select_c(jax.random.fold_in(key, 2), data, 1, num_samples=M, scale=1.0,
                             grid=(1 / 64, 1 / 32), c_init=1 / 16)  # fmt: skip
    assert res.grid_copy_fraction.min() > 0.006  # every grid value copies
    assert res.decided_by == "grid"
    assert res.c == res.c_guard == 1 / 16
    assert res.path_stage == ("grid",) * 3  # no bisection, no search


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
        assert res.criterion == pytest.approx(factor * ref.criterion, rel=1e-9)
