"""The bisection matching: a permutation, exact in one leaf, above the optimum, refined down."""

import jax
import numpy as np
import pytest
from floats import below, close
from laws import exact_w1

from idm.w1 import matching


def _clouds(seed, m, k=3):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(m, k))
    y = rng.normal(size=(m, k)) * 0.8 + 0.3
    return x, y


def test_one_leaf_is_the_exact_optimum():
    x, y = _clouds(0, 200)
    res = matching.bisection(x, y, leaf=256)
    assert res.leaves == 1
    assert res.optimal
    assert close(res.cost, exact_w1(x, y))


def test_leaves_give_a_permutation_whose_cost_bounds_the_optimum_from_above():
    x, y = _clouds(1, 1024)
    res = matching.bisection(x, y, leaf=64)
    assert np.array_equal(np.sort(res.perm), np.arange(1024))  # a coupling: each y once
    assert close(res.cost, float(np.mean(np.linalg.norm(x - y[res.perm], axis=1))))
    assert res.leaves == 16
    exact = exact_w1(x, y)
    assert below(exact, res.cost)
    assert res.cost > exact * 1.01  # the cuts cost something here: the next test has work to do


def test_refinement_never_raises_the_cost_and_closes_most_of_the_gap(key):
    x, y = _clouds(2, 1024)
    exact = exact_w1(x, y)
    first = matching.bisection(x, y, leaf=64)
    costs = [first.cost]
    perm = first.perm
    for p in range(6):
        step = matching.refine(jax.random.fold_in(key, p), x, y, perm, leaf=64, passes=1)
        assert np.array_equal(np.sort(step.perm), np.arange(1024))
        costs.append(step.cost)
        perm = step.perm
    assert all(below(b, a) for a, b in zip(costs, costs[1:], strict=False))
    assert costs[-1] - exact < 0.5 * (costs[0] - exact), (costs, exact)
    assert below(exact, costs[-1])


def test_match_is_bisection_then_refine(key):
    x, y = _clouds(3, 512)
    res = matching.match(key, x, y, leaf=64, passes=2)
    ref = matching.refine(key, x, y, matching.bisection(x, y, leaf=64).perm, leaf=64, passes=2)
    assert np.array_equal(res.perm, ref.perm)
    assert res.leaves == 8 + 2 * 8


@pytest.mark.parametrize(
    ("x", "y", "leaf", "match"),
    [
        (np.zeros((4, 2)), np.zeros((5, 2)), 2, "same shape"),
        (np.zeros((4, 2)), np.zeros((4, 3)), 2, "same shape"),
        (np.zeros((4, 2)), np.zeros((4, 2)), 0, "leaf"),
    ],
)
def test_bad_input_is_refused(x, y, leaf, match):
    with pytest.raises(ValueError, match=match):
        matching.bisection(x, y, leaf=leaf)


def test_refine_refuses_a_non_permutation(key):
    x, y = _clouds(4, 8)
    with pytest.raises(ValueError, match="permutation"):
        matching.refine(key, x, y, np.zeros(8, np.int64), leaf=4)
