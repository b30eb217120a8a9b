"""The one compatibility shim between ott-jax 0.6.0 and jax >= 0.9.

ott-jax 0.6.0's online mode (``PointCloud(..., batch_size=k)``, cost recomputed ``k`` rows at a
time so memory stays ``O((n + m) k)``) calls ``jax.interpreters.batching.is_vmappable`` in
``ott.utils.batched_vmap``. jax >= 0.9 dropped that public alias, so the online mode raises
``AttributeError`` (upstream ott-jax issue #700, fixed after the 0.6.0 release). The function
still lives in the private ``jax._src.interpreters.batching``; :func:`ensure_online_mode`
aliases it onto the public module, once, and only when it is missing.

``tests/test_w1.py`` fails when the shim stops being needed (an unpatched process no longer
raises) or stops working (online and dense solves disagree), so it can be removed on time.
"""

import jax.interpreters.batching as _public_batching

__all__ = ["SHIM_NEEDED", "ensure_online_mode"]

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
