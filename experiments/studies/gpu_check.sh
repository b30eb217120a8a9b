#!/usr/bin/env bash
# One prepared GPU session (H100/H200, about 5 minutes): precision-sensitive tests on the GPU,
# the kernel bench at GPU sizes, the n = 10^6 memory check, and end-to-end sampler rows.
# Writes everything under ${OUT:-results/bench/gpu}. Usage, from the repository root:
#   bash experiments/studies/gpu_check.sh
# On the lent machines the missing packages travel as wheels in .whl/ (see README).
set -uo pipefail
out=${OUT:-results/bench/gpu}
mkdir -p "$out"
if [[ -d .whl ]]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD
fi
export PYTHONPATH=${PYTHONPATH:-$PWD} XLA_PYTHON_CLIENT_PREALLOCATE=false PYTHONUNBUFFERED=1
nvidia-smi -L | tee "$out/device.txt"
python3 -c "import jax; print(jax.__version__, jax.devices())" | tee -a "$out/device.txt"

# 1. Correctness on the GPU: float64 references, float32 at precision 'highest'.
timeout 150 python3 -m pytest -q -p no:cacheprovider tests/idm/test_score.py tests/idm/test_samplers.py \
  -m "not slow" 2>&1 | tee "$out/tests.txt" | tail -3

# 2. Kernel bench at the acceptance size and a D = 64 row; block sizes compared.
timeout 200 python3 -m experiments.bench hydra.run.dir="$out" repeats=10 \
  'kernel.shapes=[[16384,65536,128],[16384,65536,64]]' 'kernel.blocks=[2048,4096,8192,16384]' \
  kernel.numpy_peer=false sampler.n=65536 sampler.m=16384 sampler.D=128 2>&1 | tail -20

# 3. n = 10^6, D = 128, m = 10^5 IDM sampling: time and peak device memory.
timeout 120 python3 - <<'PY' 2>&1 | tee "$out/large_n.txt"
import time, jax, jax.numpy as jnp
import idm, idm.manifolds
n, D, m = 10**6, 128, 10**5
M = idm.manifolds.get("sphere", d=4, D=D, key=jax.random.key(0))
data = M.sample(jax.random.key(1), n).astype(jnp.float32)
for rep in range(2):
    t0 = time.perf_counter()
    out = idm.sample(jax.random.key(2), data, m, d=4, solver="exact").block_until_ready()
    dt = time.perf_counter() - t0
peak = jax.devices()[0].memory_stats()["peak_bytes_in_use"] / 2**30
print(f"n={n} D={D} m={m}: {dt:.2f} s (warm), peak device memory {peak:.2f} GiB,"
      f" mean distance to S^4 {float(M.distance(out).mean()):.4f}")
PY
