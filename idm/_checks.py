"""Argument checks shared by the samplers, eager even inside a caller's ``jax.jit``.

A sampler called under ``jit`` with its training set closed over sees a concrete array, but
any ``jnp`` operation on it is staged into the trace and cannot be branched on; the checks run
under ``jax.ensure_compile_time_eval`` so that they stay Python-level errors there too.
"""

import jax
import jax.numpy as jnp


def concrete(v) -> bool:
    """True for values known at call time (Python numbers, NumPy or concrete JAX arrays)."""
    return not isinstance(v, jax.core.Tracer)


def check_finite_rows(data, name: str = "data") -> None:
    """Raises ``ValueError`` naming the first non-finite row of a concrete ``(n, D)`` array.

    Traced arrays are not checked (their values are not known until run time).
    """
    if not concrete(data):
        return
    with jax.ensure_compile_time_eval():
        bad = ~jnp.all(jnp.isfinite(data), axis=1)
        if bool(jnp.any(bad)):
            raise ValueError(
                f"{name} has {int(bad.sum())} rows with NaN or inf values (first: row "
                f"{int(jnp.argmax(bad))})"
            )


def training_set(data):
    """``data`` as a floating ``(n, D)`` JAX array with ``n >= 2``, or ``ValueError``.

    Integer input is promoted to JAX's default float.
    """
    data = jnp.asarray(data)
    if not jnp.issubdtype(data.dtype, jnp.floating):
        data = data.astype(jnp.zeros(()).dtype)
    if data.ndim != 2 or data.shape[0] < 2:
        raise ValueError(f"data must have shape (n, D) with n >= 2, got {data.shape}")
    return data
