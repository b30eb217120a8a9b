"""Argument checks shared by the public entry points, eager even inside a caller's ``jax.jit``.

A sampler called under ``jit`` with its training set closed over sees a concrete array, but
any ``jnp`` operation on it is staged into the trace and cannot be branched on; the checks run
under ``jax.ensure_compile_time_eval`` so that they stay Python-level errors there too.

The rule for numbers: a *concrete* value (a Python number, a NumPy array or a JAX array known
at call time) is checked and refused with one ``ValueError``; a *traced* value (under ``jit``,
``vmap`` or ``grad``) is never turned into a Python bool, so it passes unchecked. Shapes are
known even for traced values and are always checked. Counts (``num_samples``, ``steps``) fix
shapes, so they must be concrete integers.
"""

import numbers

import jax
import jax.numpy as jnp
import numpy as np


def concrete(v) -> bool:
    """True for values known at call time (Python numbers, NumPy or concrete JAX arrays)."""
    return not isinstance(v, jax.core.Tracer)


def count(value, name: str, minimum: int = 1) -> int:
    """``value`` as a Python int ``>= minimum``, or ``ValueError``.

    Accepts Python and NumPy integers, concrete 0-d integer arrays and integral floats
    (``10.0``); refuses ``bool``, non-integral numbers (``10.7``: no silent truncation) and
    traced values (a count fixes a shape).
    """
    if not concrete(value):
        raise ValueError(f"{name} fixes a shape: it must be a concrete integer, not a traced value")
    if isinstance(value, bool | np.bool_) or np.ndim(value) != 0:
        raise ValueError(f"{name} must be an integer, got {value!r}")
    v = value.item() if hasattr(value, "item") else value
    if isinstance(v, bool) or not isinstance(v, numbers.Real) or v != int(v):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if int(v) < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return int(v)


def scalar(value, name: str):
    """``value`` unchanged when it is a scalar (0-d, traced or not), else ``ValueError``."""
    if isinstance(value, str) or np.ndim(value) != 0:
        raise ValueError(f"{name} must be a scalar, got shape {np.shape(value)}")
    return value


def positive(value, name: str, *, strict: bool = True):
    """``value`` unchanged when it is a scalar ``> 0`` (``>= 0`` with ``strict=False``).

    The sign is checked only when ``value`` is concrete (NaN is refused too); a traced value is
    passed through unchecked, never converted to a Python bool.
    """
    scalar(value, name)
    if concrete(value):
        with jax.ensure_compile_time_eval():
            v = float(value)
        if not (v > 0 if strict else v >= 0):
            raise ValueError(f"{name} must be {'>' if strict else '>='} 0, got {name}={value}")
    return value


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
    """``data`` as a floating ``(n, D)`` JAX array, ``n >= 2``, ``D >= 1``, or ``ValueError``.

    Integer input is promoted to JAX's default float.
    """
    data = jnp.asarray(data)
    if not jnp.issubdtype(data.dtype, jnp.floating):
        data = data.astype(jnp.zeros(()).dtype)
    if data.ndim != 2 or data.shape[0] < 2 or data.shape[1] < 1:
        raise ValueError(f"data must have shape (n, D) with n >= 2 and D >= 1, got {data.shape}")
    return data
