"""Pairwise Euclidean distances in the GEMM form, the one definition every module uses.

``|a_i - b_j|^2 = |a_i|^2 + |b_j|^2 - 2 a_i . b_j``, one matrix product at precision highest,
clipped at 0. The form cancels: its absolute error is about ``eps |a|^2`` (float32: ~1e-7
times the squared norms), so callers centre their points first, and distances that must be
exact near 0 (copies, nearest neighbours) are re-measured by direct differences
(:mod:`idm.neighbours`).
"""

import jax
import jax.numpy as jnp

__all__ = ["dists", "sq_dists", "sq_norms"]

_HIGHEST = jax.lax.Precision.HIGHEST


def sq_norms(a):
    """``|a_i|^2`` along the last axis."""
    return jnp.sum(a * a, axis=-1)


def sq_dists(a, b, na=None, nb=None):
    """``(n, m)`` squared distances ``|a_i - b_j|^2`` by one GEMM, clipped at 0.

    ``na``, ``nb``: the squared norms of the rows, when the caller has them already.
    """
    na = sq_norms(a) if na is None else na
    nb = sq_norms(b) if nb is None else nb
    ab = jnp.matmul(a, b.T, precision=_HIGHEST)
    return jnp.maximum(na[:, None] + nb[None, :] - 2.0 * ab, 0.0)


def dists(a, b, na=None, nb=None):
    """``(n, m)`` Euclidean distances ``|a_i - b_j|`` (the square root of :func:`sq_dists`)."""
    return jnp.sqrt(sq_dists(a, b, na, nb))
