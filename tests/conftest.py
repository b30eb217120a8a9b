"""Test-wide JAX settings: float64 references, strict rank promotion, one compilation cache."""

import atexit
import os
import shutil
import tempfile

import jax
import matplotlib
import pytest

matplotlib.use("Agg")
jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_rank_promotion", "raise")

# One persistent compilation cache per test session, shared (through the environment) with the
# processes the tests start: the command-line, launcher and sharding tests compile the same
# kernels at the same sizes as the in-process tests. Fresh per session, removed at exit.
_CACHE = tempfile.mkdtemp(prefix="idm-test-jax-cache-")
atexit.register(shutil.rmtree, _CACHE, ignore_errors=True)
os.environ["JAX_COMPILATION_CACHE_DIR"] = _CACHE
os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
jax.config.update("jax_compilation_cache_dir", _CACHE)
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)


@pytest.fixture
def key():
    """A fresh root key per test; tests derive their own with fold_in."""
    return jax.random.key(0)
