"""Samples sharded over devices equal the single-device samples (two forced CPU devices)."""

import subprocess
import sys

import pytest

SCRIPT = """
import os
os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
import jax, numpy as np
jax.config.update("jax_enable_x64", True)
import idm
from idm import manifolds
assert jax.device_count() == 2, jax.devices()
M = manifolds.get("sphere", d=2, D=6, key=jax.random.key(0))
data = M.sample(jax.random.key(1), 300)
for solver in ("exact", "sde"):
    a = idm.sample(jax.random.key(2), data, 64, d=2, solver=solver, steps=20, shard=True)
    b = idm.sample(jax.random.key(2), data, 64, d=2, solver=solver, steps=20, shard=False)
    assert len(a.sharding.device_set) == 2, a.sharding
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-10, atol=1e-12)
print("ok")
"""


@pytest.mark.slow
def test_sharded_samples_equal_single_device():
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().endswith("ok")
