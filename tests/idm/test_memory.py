"""Peak resident memory of a large score evaluation (measured in a fresh process)."""

import subprocess
import sys

import pytest

# Peak resident memory from /proc/self/status (VmHWM), not getrusage's ru_maxrss: ru_maxrss
# survives exec, so a child forked from a large pytest process reports the parent's size (seen:
# 2.75 GiB at the end of the suite against 0.42 GiB in a fresh shell); VmHWM belongs to the new
# process image only.
SCRIPT = """
import jax, jax.numpy as jnp
from idm.score import score
n, D, m = 200_000, 64, 4096
data = jax.random.normal(jax.random.key(0), (n, D), jnp.float32)
x = jax.random.normal(jax.random.key(1), (m, D), jnp.float32)
score(x, data, 0.01).block_until_ready()
with open("/proc/self/status") as f:
    print(next(line.split()[1] for line in f if line.startswith("VmHWM:")))  # KiB
"""


@pytest.mark.slow
def test_score_n200k_D64_m4096_peaks_under_2GB():
    """An m x n x D array would be 210 GB and m x n logits 3.3 GB: streaming keeps it small."""
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True, timeout=600
    )
    peak_gib = int(out.stdout.split()[-1]) / 2**20
    print(f"peak resident memory: {peak_gib:.2f} GiB")
    assert peak_gib < 2.0
