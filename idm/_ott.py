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
  public module, once, and only when it is missing.

``tests/test_w1.py`` fails when the shim stops being needed (an unpatched process no longer
raises) or stops working (online and dense solves disagree), so it can be removed on time.
"""

import functools

import jax
import jax.interpreters.batching as _public_batching

from idm._geometry import dists

__all__ = ["SHIM_NEEDED", "ensure_online_mode", "gemm_euclidean"]

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
