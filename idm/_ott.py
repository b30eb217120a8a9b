"""The one adapter between idm and ott-jax: the Euclidean cost and the compatibility shim.

* :func:`gemm_euclidean`: ott's ``costs.Euclidean`` with ``all_pairs`` as one GEMM,
  ``sqrt(max(|x|^2 + |y|^2 - 2 x.y, 0))`` at matmul precision highest (:func:`idm._geometry.dists`).
  ott's own ``Euclidean`` point cloud materialises an ``n x m x D`` difference tensor
  (13 GB at m = 4000, D = 100); this one holds one ``n x m`` block at a time in the online mode.
* :func:`ensure_online_mode`: the compatibility shim. ott-jax 0.6.0's online mode
  (``PointCloud(..., batch_size=k)``, cost recomputed ``k`` rows at a time so memory stays
  ``O((n + m) k)``) calls ``jax.interpreters.batching.is_vmappable`` in
  ``ott.utils.batched_vmap``. jax >= 0.9 dropped that public alias, so the online mode raises
  ``AttributeError`` (upstream ott-jax issue #700, fixed after the 0.6.0 release). The function
  still lives in the private ``jax._src.interpreters.batching``; the shim aliases it onto the
  public module, once, and only when it is missing. It is installed when this module is
  imported (``import idm`` imports it), so every user of the online mode, including
  :func:`idm.w1.divergence.sinkhorn_divergence` under a caller's ``jit``, finds it in place;
  calling :func:`ensure_online_mode` again is a no-op.

* :func:`euclidean`: ott's ``costs.Euclidean`` with a norm that stays ``|x - y|`` under
  differentiation. ott-jax 0.6.0's ``ott.math.utils.norm`` (a custom JVP with a zero gradient
  at 0) returns the norm of a vector of ones as its *primal* at 0: under ``jvp``, ``grad`` or
  ``value_and_grad``, ``Euclidean()(x, x)`` evaluates to ``sqrt(D)`` instead of 0. Gradients in
  the points survive (the diagonal's derivative is 0 either way), but values and derivatives
  in ``epsilon`` of the self terms of a Sinkhorn divergence do not (measured: d/d eps off by a
  factor 3 on 40 points in R^3). ``tests/idm/w1/test_divergence.py`` fails when ott fixes it.

``tests/idm/w1/test_w1.py`` fails when the shim stops being needed (an unpatched process no longer
raises) or stops working (online and dense solves disagree), so it can be removed on time.
"""

import functools

import jax
import jax.interpreters.batching as _public_batching
import jax.numpy as jnp

from idm._geometry import dists

__all__ = ["SHIM_NEEDED", "ensure_online_mode", "euclidean", "gemm_euclidean"]

#: Whether this jax lacked the public ``is_vmappable`` when idm was imported.
SHIM_NEEDED: bool = not hasattr(_public_batching, "is_vmappable")


def ensure_online_mode() -> bool:
    """Makes ott-jax's ``batch_size`` (online) mode work on this jax.

    Returns:
        True when the alias had to be (or already was) installed by this module.

    Raises:
        ImportError: if neither the public nor the private ``is_vmappable`` exists.
    """
    if not SHIM_NEEDED:
        return False
    if not hasattr(_public_batching, "is_vmappable"):
        from jax._src.interpreters import batching as _private_batching

        _public_batching.is_vmappable = _private_batching.is_vmappable
    return True


def safe_norm(z):
    """``|z|`` over the last axis, exactly 0 at ``z = 0`` with a zero gradient there.

    The double ``where`` keeps the square root away from 0, so no ``0 * inf`` appears in
    reverse mode, and the value is the true norm under any transformation.
    """
    sq = jnp.sum(z * z, axis=-1)
    zero = sq == 0
    return jnp.where(zero, 0.0, jnp.sqrt(jnp.where(zero, 1.0, sq)))


@functools.cache
def euclidean():
    """ott-jax's ``costs.Euclidean`` whose value is ``|x - y|`` under ``jvp`` and ``grad`` too."""
    from ott.geometry import costs

    @jax.tree_util.register_pytree_node_class
    class Euclidean(costs.Euclidean):
        """``|x - y|`` by :func:`safe_norm` (ott's norm returns ``sqrt(D)`` at 0 under jvp)."""

        def __call__(self, x, y):  # noqa: D102
            return safe_norm(x - y)

    return Euclidean()


@functools.cache
def gemm_euclidean():
    """The ott-jax ``costs.Euclidean`` whose ``all_pairs`` is one GEMM (no ``n x m x D`` array)."""
    from ott.geometry import costs

    @jax.tree_util.register_pytree_node_class
    class GemmEuclidean(costs.Euclidean):
        """``|x - y|`` as ``sqrt(max(|x|^2 + |y|^2 - 2 x.y, 0))``, matmul precision highest."""

        def all_pairs(self, x, y):  # noqa: D102
            return dists(x, y)

    return GemmEuclidean()


ensure_online_mode()  # once, at import: see the module docstring
