"""Test-wide JAX settings: float64 references and strict rank promotion."""

import jax
import matplotlib
import pytest

matplotlib.use("Agg")
jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_rank_promotion", "raise")


@pytest.fixture
def key():
    """A fresh root key per test; tests derive their own with fold_in."""
    return jax.random.key(0)
