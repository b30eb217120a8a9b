"""Evaluator rows of the benchmark: W1 by Sinkhorn against exact OT, in one run.

For each size m and cloud: POT's exact network simplex (``ot.emd2`` on float64 Euclidean
distances, the reference and the time to beat), idm's exact assignment, and idm's default
Sinkhorn ``w1_result`` (value, certified bracket, iterations, epsilon), with the relative error
and the time ratio to POT measured side by side.

``python -m experiments.bench evaluator.enabled=true`` adds these rows to the benchmark table;
``python -m experiments.studies.bench_w1 OUT.json`` writes them alone (with the memory and
large-size rows).

Clouds (unit-scale manifolds in R^D from ``idm.manifolds``):
    ``circle_idm``: IDM-like output on a circle (a population sample shrunk by 0.97 plus
        N(0, 0.003^2 I) noise) against an independent population sample; W1 ~ 0.03-0.06,
        about 2% of the diameter, on a 1-d support: the slowest case for Sinkhorn.
    ``sphere_idm``: the same on S^2.
"""

from __future__ import annotations

import json
import math
import resource
import subprocess
import sys
import time

import jax
import numpy as np

from experiments.helpers import store
from idm import manifolds, w1

CLOUDS = {"circle_idm": 1, "sphere_idm": 2}


def make_clouds(key, cloud: str, m: int, D: int = 100):
    """``(x, y)``: IDM-like output and an independent population sample, each ``(m, D)``."""
    man = manifolds.get("sphere", d=CLOUDS[cloud], D=D, key=jax.random.fold_in(key, 0))
    x = 0.97 * man.sample(jax.random.fold_in(key, 1), m)
    x = x + 0.003 * jax.random.normal(jax.random.fold_in(key, 2), x.shape, x.dtype)
    return x, man.sample(jax.random.fold_in(key, 3), m)


def _timed(fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


def pot_emd2(x, y):
    """POT's exact W1 (network simplex), distances included in the time; and its status.

    Returns ``(nan, False)`` where POT is not installed (the GPU image).
    """
    try:
        import ot
    except ImportError:
        return math.nan, False
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    cost = ot.dist(x, y, metric="euclidean")
    value, log = ot.emd2([], [], cost, numItermax=10**9, log=True)
    return float(value), log["result_code"] == 1


def bench_w1(
    sizes, key, *, clouds=("circle_idm", "sphere_idm"), D=100, warm_up_below=5000, **w1_kwargs
) -> list[dict]:
    """Evaluator benchmark rows: Sinkhorn (default settings) vs exact, with POT's time.

    Args:
        sizes: point-cloud sizes m (both sides).
        key: PRNG key (the clouds depend on it and on m only).
        clouds: names from ``CLOUDS``.
        D: ambient dimension.
        warm_up_below: sizes below this are solved once untimed first (compilation excluded);
            larger ones are timed on their first call (compilation included, ~1-2 s).
        **w1_kwargs: options for :func:`idm.w1.w1_result` (Sinkhorn).

    Returns:
        One dict per (cloud, m) with ``kind="evaluator"``.
    """
    rows = []
    pot_emd2(np.zeros((2, 1)), np.ones((2, 1)))  # import POT outside the timings
    for cloud in clouds:
        for m in sizes:
            x, y = make_clouds(jax.random.fold_in(key, m), cloud, m, D)
            (exact, pot_ok), pot_s = _timed(pot_emd2, x, y)
            lsa, lsa_s = _timed(w1.w1_result, x, y, method="exact")
            if math.isnan(exact):  # no POT here: the assignment is the exact reference
                exact, pot_s = lsa.value, math.nan
            warm = m < warm_up_below
            if warm:
                w1.w1_result(x, y, method="sinkhorn", warn=False, **w1_kwargs)
            res, sk_s = _timed(w1.w1_result, x, y, method="sinkhorn", **w1_kwargs)
            row = dict(
                kind="evaluator",
                cloud=cloud,
                m=m,
                D=D,
                backend=jax.default_backend(),
                exact_pot=exact,
                pot_optimal=bool(pot_ok),
                pot_s=pot_s,
                exact_assignment=lsa.value,
                assignment_s=lsa_s,
                sinkhorn=res.value,
                sinkhorn_lower=res.lower,
                sinkhorn_upper=res.upper,
                rel_err=(res.value - exact) / exact,
                converged=bool(res.converged),
                **{k: res.diagnostics[k] for k in ("n_iters", "epsilon", "marginal_error")},
                sinkhorn_s=sk_s,
                sinkhorn_warm=warm,
                sinkhorn_over_pot=sk_s / pot_s,
                assignment_over_pot=lsa_s / pot_s,
            )
            print(store.dumps(row), flush=True)
            rows.append(row)
    return rows


_MEMORY_SCRIPT = """
import resource, sys, time, warnings
import jax
from experiments.helpers.store import dumps
from experiments.helpers.w1bench import make_clouds
from idm import w1
m, D, iters = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
x, y = make_clouds(jax.random.key(0), "sphere_idm", m, D)
t0 = time.perf_counter()
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    res = w1.w1_result(x, y, method="sinkhorn", max_iterations=iters, stage_iterations=iters)
secs = time.perf_counter() - t0
print(dumps(dict(kind="evaluator_memory", m=m, D=D, x64=bool(jax.config.jax_enable_x64),
    n_iters=res.diagnostics["n_iters"], seconds=secs, value=res.value, lower=res.lower,
    upper=res.upper,
    peak_rss_bytes=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)))
"""


def memory_row(m: int = 40_000, D: int = 3, iters: int = 10, x64: bool = True) -> dict:
    """Peak resident memory of the online Sinkhorn path at size m, in a fresh process.

    Runs one stage of ``iters`` iterations plus the streamed bounds (the solve is not meant to
    converge: memory does not grow with iterations). ``D = 3`` matches the frame coordinates
    the rate experiment evaluates in.
    """
    env_flag = "JAX_ENABLE_X64=1" if x64 else "JAX_ENABLE_X64=0"
    out = subprocess.run(
        ["env", env_flag, sys.executable, "-W", "ignore", "-c", _MEMORY_SCRIPT]
        + [str(m), str(D), str(iters)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def large_row(m: int, key, *, cloud="sphere_idm", D=3, **w1_kwargs) -> dict:
    """One Sinkhorn solve at a size past exact OT (online path): time, result, peak memory."""
    x, y = make_clouds(key, cloud, m, D)
    res, secs = _timed(w1.w1_result, x, y, method="sinkhorn", warn=False, **w1_kwargs)
    stats = jax.devices()[0].memory_stats() or {}
    return dict(
        kind="evaluator_large",
        cloud=cloud,
        m=m,
        D=D,
        backend=jax.default_backend(),
        sinkhorn=res.value,
        sinkhorn_lower=res.lower,
        sinkhorn_upper=res.upper,
        converged=bool(res.converged),
        n_iters=res.diagnostics["n_iters"],
        epsilon=res.diagnostics["epsilon"],
        sinkhorn_s=secs,
        peak_device_bytes=stats.get("peak_bytes_in_use"),
        peak_rss_bytes=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    )
