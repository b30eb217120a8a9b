"""What the running JAX backend gives: the widest float, and block sizes by backend."""

import jax
import jax.numpy as jnp

__all__ = ["backend_block", "is_accelerator", "work_dtype"]


def work_dtype():
    """The widest float JAX gives here: float64 with x64 enabled, float32 otherwise."""
    return jax.dtypes.canonicalize_dtype(jnp.float64)


def is_accelerator() -> bool:
    """True on a GPU or TPU backend."""
    return jax.default_backend() in ("gpu", "tpu")


def backend_block(cpu: int, accelerator: int) -> int:
    """Rows per streamed block: small on CPU (cache), large on GPU/TPU (fewer sequential steps)."""
    return accelerator if is_accelerator() else cpu
