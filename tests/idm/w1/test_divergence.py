"""The debiased Sinkhorn divergence (Euclidean cost) as a JAX scalar: value, derivatives, memory.

Promises of :func:`idm.w1.sinkhorn_divergence`: it is ott-jax's divergence with the cost
``|x - y|``; ``jit``, ``vmap`` and ``grad`` (in the points, and through :func:`idm.sample` in
``sigma`` and ``c``) go through it and the gradient is the derivative of the value; no value
inside it, derivatives included, has ``n x m`` elements; it is not W1 (it undershoots it).
Float64 (conftest); clouds of 30-40 points in R^3.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import idm
from idm import _ott
from idm.w1 import sinkhorn_divergence
from idm.w1.divergence import default_epsilon

TIGHT = 1e-11  # Sinkhorn threshold at which the value is smooth enough for central differences
H = 1e-5  # central-difference step: truncation O(H^2) ~ 1e-10, solver noise ~ TIGHT / H ~ 1e-6


def _clouds(key, n=40, m=30, D=3):
    x = jax.random.normal(jax.random.fold_in(key, 0), (n, D))
    y = jax.random.normal(jax.random.fold_in(key, 1), (m, D)) + 0.3
    return x, y


def _directional(f, x, d):
    return (f(x + H * d) - f(x - H * d)) / (2 * H)


def test_value_is_otts_divergence_with_the_euclidean_cost(key):
    from ott.geometry import costs
    from ott.tools.sinkhorn_divergence import sinkdiv

    x, y = _clouds(key)
    with jax.numpy_rank_promotion("allow"):
        ref, out = sinkdiv(x, y, cost_fn=costs.Euclidean(), epsilon=0.05)
    assert all(bool(c) for c in out.converged)
    np.testing.assert_allclose(sinkhorn_divergence(x, y, epsilon=0.05), ref, rtol=1e-12)
    np.testing.assert_allclose(default_epsilon(x, y), 0.05 * idm.schedule.length_scale(
        jnp.concatenate([x, y])), rtol=1e-15)  # fmt: skip


def test_zero_on_one_cloud_and_below_exact_w1(key):
    """Not a certified W1: on these clouds it sits below the exact value, as DESIGN.md says."""
    x, y = _clouds(key)
    # S(x, x) = 0 up to the solver's tolerance (measured -1.7e-10 at threshold 1e-6; the
    # unsymmetrised x-x problem stalls before 1e-8 and then reads NaN)
    assert abs(float(sinkhorn_divergence(x, x, threshold=1e-6))) < 1e-8
    value = float(sinkhorn_divergence(x, y))
    exact = idm.w1.w1(x, y, method="exact")
    assert 0.0 < value < exact


@pytest.mark.parametrize("argnum", [0, 1])
def test_jit_grad_in_either_cloud_equals_central_differences(key, argnum):
    """Default epsilon included: it moves with the points and is differentiated with them."""
    x, y = _clouds(key)
    d = jax.random.normal(jax.random.fold_in(key, 2), (x, y)[argnum].shape)

    def f(*clouds):
        return sinkhorn_divergence(*clouds, threshold=TIGHT)

    g = jax.jit(jax.grad(f, argnums=argnum))(x, y)
    if argnum == 0:
        fd = _directional(lambda v: f(v, y), x, d)
    else:
        fd = _directional(lambda v: f(x, v), y, d)
    np.testing.assert_allclose(jnp.vdot(g, d), fd, rtol=1e-6)


def test_grad_in_epsilon_equals_central_differences(key):
    x, y = _clouds(key)

    def f(eps):
        return sinkhorn_divergence(x, y, epsilon=eps, threshold=TIGHT)

    np.testing.assert_allclose(jax.grad(f)(0.08), _directional(f, 0.08, 1.0), rtol=1e-6)


@pytest.mark.parametrize(("name", "value"), [("sigma", 0.3), ("c", 0.8)])
def test_grad_through_idm_sample_equals_central_differences(key, name, value):
    """A loss that tunes the bandwidth: S(IDM samples, held-out points), exact sampler."""
    man = idm.manifolds.get("sphere", d=1, D=3, key=jax.random.fold_in(key, 3))
    train = man.sample(jax.random.fold_in(key, 4), 24)
    val = man.sample(jax.random.fold_in(key, 5), 20)
    k = jax.random.fold_in(key, 6)

    def loss(v):
        z = idm.sample(k, train, 16, d=1, solver="exact", **{name: v})
        return sinkhorn_divergence(z, val, threshold=TIGHT)

    g = jax.jit(jax.grad(loss))(value)
    assert abs(float(g)) > 1e-3
    np.testing.assert_allclose(g, _directional(loss, value, 1.0), rtol=1e-5)


def test_vmap_over_a_batch_of_clouds_equals_the_loop(key):
    x, y = _clouds(key)
    xs = jnp.stack([x, 2.0 * x, x + 1.0])
    looped = jnp.stack([sinkhorn_divergence(v, y) for v in xs])
    np.testing.assert_allclose(jax.vmap(sinkhorn_divergence, (0, None))(xs, y), looped, rtol=1e-12)


def test_float32_points_with_x64_on(key):
    """DESIGN.md's trap: ott's default weights are float64 then; ours follow the points."""
    x, y = _clouds(key)
    s32 = sinkhorn_divergence(x.astype(jnp.float32), y.astype(jnp.float32))
    assert s32.dtype == jnp.float32
    # both stop at threshold 1e-3 on the marginals: agreement to a few 1e-4 of a value ~1
    np.testing.assert_allclose(s32, sinkhorn_divergence(x, y), rtol=1e-3)


def test_not_converged_is_nan(key):
    x, y = _clouds(key)
    assert np.isnan(float(sinkhorn_divergence(x, y, epsilon=1e-3, max_iterations=10)))


def test_no_value_has_n_by_m_elements_in_the_value_or_its_gradient():
    """Online mode, checkpointed dual: the largest value is one block of k x m x D."""
    from jaxprs import max_intermediate

    n, m, D, k = 300, 400, 2, 32
    x, y = jnp.zeros((n, D)), jnp.ones((m, D))

    def f(x, y):
        return sinkhorn_divergence(x, y, batch_size=k)

    for fn in (f, jax.grad(f, argnums=(0, 1))):
        assert max_intermediate(jax.make_jaxpr(fn)(x, y).jaxpr) <= k * m * D < n * m


@pytest.mark.parametrize(
    ("x", "y", "kw", "match"),
    [
        (jnp.ones((4, 3)), jnp.ones((5, 2)), {}, "shapes"),
        (jnp.ones(4), jnp.ones((5, 1)), {}, "shapes"),
        (jnp.ones((4, 0)), jnp.ones((5, 0)), {}, "shapes"),
        (jnp.ones((4, 3)), jnp.ones((5, 3)), {"epsilon": 0.0}, "epsilon must be > 0"),
        (jnp.ones((4, 3)), jnp.ones((5, 3)), {"epsilon": jnp.ones(2)}, "epsilon must be a scalar"),
    ],
)
def test_bad_arguments_are_refused(x, y, kw, match):
    with pytest.raises(ValueError, match=match):
        sinkhorn_divergence(x, y, **kw)


# --- ott-jax 0.6's Euclidean norm under differentiation: the workaround and the test that
# fails when it can go (the online-mode shim's is test_w1.py::test_ott_online_mode...) ---


def test_otts_euclidean_norm_still_wrong_under_differentiation():
    """ott's norm returns sqrt(D) at 0 under jvp; when this fails, drop idm._ott.euclidean."""
    from ott.geometry import costs

    value, grad = jax.value_and_grad(lambda v: costs.Euclidean()(v, v))(jnp.ones(3))
    assert float(value) == pytest.approx(np.sqrt(3.0), rel=1e-12)
    assert float(jnp.abs(grad).max()) == 0.0


def test_idms_euclidean_is_zero_with_zero_gradient_at_coincident_points():
    cost = _ott.euclidean()
    value, grad = jax.value_and_grad(lambda v: cost(v, v))(jnp.ones(3))
    assert (float(value), float(jnp.abs(grad).max())) == (0.0, 0.0)
    p, q = jnp.array([0.0, 3.0]), jnp.array([4.0, 0.0])
    assert float(cost(p, q)) == 5.0
