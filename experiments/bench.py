"""Performance table for the score kernel, the samplers and the evaluator, in one run.

The kernel is timed against the same device's GEMM, a naive jnp version and a NumPy peer.

    python -m experiments.bench                       # CPU sizes (conf/bench/bench.yaml)
    bash experiments/studies/gpu_check.sh             # GPU sizes and checks (H100/H200)
    python -m experiments.bench law.enabled=true ...  # + a rate row of the law evaluator

Writes ``bench.json`` (and ``bench.md``, the same table) into the Hydra run directory. Times are
medians of ``repeats`` calls after a warm-up call; ratios are taken within this one run.
"""

import platform
import resource
import time
from pathlib import Path

import hydra
import jax
import jax.numpy as jnp
import numpy as np
from hydra.core.config_store import ConfigStore
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

import idm
import idm.manifolds
from experiments.helpers import store
from experiments.helpers.schemas.bench import BenchConfig
from idm.score import _posterior_mean, default_block_size

HIGHEST = jax.lax.Precision.HIGHEST


ConfigStore.instance().store(name="bench_schema", node=BenchConfig)


def median_time(fn, *args, repeats=5):
    """Median wall time of ``fn(*args)`` after one warm-up call (compile excluded)."""
    jax.block_until_ready(fn(*args))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


@jax.jit
def _gemm(a, b):
    return jnp.matmul(a, b, precision=HIGHEST)


@jax.jit
def naive_denoise(x, data, t):
    """The obvious jnp version: all m x n logits at once, softmax, GEMM."""
    a, v = jnp.exp(-t), -jnp.expm1(-2 * t) / 2
    sq = jnp.sum(data * data, -1)
    logits = (a * jnp.matmul(x, data.T, precision=HIGHEST) - 0.5 * a * a * sq[None, :]) / v
    return jnp.matmul(jax.nn.softmax(logits, axis=-1), data, precision=HIGHEST)


def numpy_denoise(x, data, t, chunk=256):
    """Empirical denoiser as public optimal-denoiser code writes it.

    Query chunks, squared distances by matrix products, a max-subtracted softmax, then a
    weighted average.
    """
    # in the inputs' dtype (a NumPy float64 scalar would silently promote keys to float64)
    a, v = np.exp(-t).astype(x.dtype), (-np.expm1(-2 * t) / 2).astype(x.dtype)
    keys = a * data
    key_sq = np.sum(keys * keys, axis=1)
    out = np.empty_like(x)
    for s in range(0, x.shape[0], chunk):
        q = x[s : s + chunk]
        d2 = np.sum(q * q, axis=1, keepdims=True) + key_sq[None, :] - 2.0 * q @ keys.T
        logits = -d2 / (2 * v)
        logits -= logits.max(axis=1, keepdims=True)
        w = np.exp(logits)
        w /= w.sum(axis=1, keepdims=True)
        out[s : s + chunk] = w @ data
    return out


def device_peak_bytes():
    """Peak device memory where the backend reports it (GPU), else the process's peak RSS."""
    stats = jax.devices()[0].memory_stats() or {}
    if "peak_bytes_in_use" in stats:
        return int(stats["peak_bytes_in_use"])
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def _cpu_model() -> str:
    """The host CPU's model name (Linux), for telling machines apart in committed results."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def kernel_rows(shape, *, t, repeats, numpy_peer, naive, key, block=None):
    """One row per (m, n, D): FLOP/s of GEMM, idm kernel, naive jnp and NumPy, and ratios."""
    m, n, D = shape
    kx, kd = jax.random.fold_in(key, 0), jax.random.fold_in(key, 1)
    data = jax.random.normal(kd, (n, D), jnp.float32) / np.sqrt(D)
    x = jax.random.normal(kx, (m, D), jnp.float32) / np.sqrt(D)
    flops = 4.0 * m * n * D  # two GEMMs of m x n x D, counted as multiply + add
    side = int(round((flops / 2) ** (1 / 3)))  # a square GEMM with the same FLOPs
    sq = jax.random.normal(key, (side, side), jnp.float32)
    row = dict(kind="kernel", m=m, n=n, D=D, t=t, flops=flops, gemm_side=side)
    row["gemm_s"] = median_time(_gemm, sq, sq, repeats=repeats)
    block = int(block or default_block_size())
    t_arr = jnp.float32(t)

    def kernel(x, data):
        return _posterior_mean(x, data, t_arr, block, "highest")

    row["block_size"] = block
    row["idm_s"] = median_time(kernel, x, data, repeats=repeats)
    out = np.asarray(kernel(x, data), dtype=np.float64)
    row["peak_bytes"] = device_peak_bytes()
    ref = numpy_denoise(np.asarray(x, np.float64), np.asarray(data, np.float64), t)
    row["idm_max_abs_err_vs_float64"] = float(np.max(np.abs(out - ref)))
    if naive:
        row["naive_s"] = median_time(naive_denoise, x, data, t_arr, repeats=repeats)
    if numpy_peer:
        xn, dn = np.asarray(x), np.asarray(data)
        row["numpy_s"] = median_time(lambda: numpy_denoise(xn, dn, t), repeats=max(1, repeats // 2))
        row["numpy_max_abs_err_vs_float64"] = float(
            np.max(np.abs(numpy_denoise(xn, dn, t).astype(np.float64) - ref))
        )
    for name in ("gemm", "idm", "naive", "numpy"):
        if f"{name}_s" in row:
            row[f"{name}_gflops"] = flops / row[f"{name}_s"] / 1e9
    row["idm_over_gemm"] = row["idm_gflops"] / row["gemm_gflops"]
    if naive:
        row["speedup_vs_naive"] = row["naive_s"] / row["idm_s"]
    if numpy_peer:
        row["speedup_vs_numpy"] = row["numpy_s"] / row["idm_s"]
        # the most any kernel that runs at the same-run GEMM rate could gain over NumPy
        row["numpy_over_gemm_s"] = row["numpy_s"] / row["gemm_s"]
    return row


def sampler_rows(cfg, key):
    """End-to-end IDM samples per second for the ``exact`` and ``sde`` solvers."""
    rows = []
    M = idm.manifolds.get("sphere", d=2, D=cfg.D, key=key)
    data = M.sample(jax.random.fold_in(key, 1), cfg.n).astype(jnp.float32)
    for solver in cfg.solvers:

        def run(k, solver=solver):
            return idm.sample(k, data, cfg.m, d=2, solver=solver, steps=cfg.steps)

        secs = median_time(run, jax.random.fold_in(key, 2), repeats=cfg.repeats)
        rows.append(
            dict(
                kind="sampler",
                solver=solver,
                n=cfg.n,
                m=cfg.m,
                D=cfg.D,
                steps=cfg.steps if solver != "exact" else 0,
                seconds=secs,
                samples_per_s=cfg.m / secs,
            )
        )
    return rows


def law_rows(cfg, key):
    """One rate-app row's evaluation by the bracket evaluator beside the plug-in, same machine.

    The row at ``n`` training points on the circle (D = 100, c = 1, the default evaluator's
    sizes): QMC draws of IDM's law in the span and its bracket, timed together (sampling plus
    evaluation), beside the plug-in exact W1 of ``m_exact`` iid samples against a grid of the
    same size (the old evaluator at the bracket's exact-OT size) and that plug-in's floor.
    """
    from experiments.helpers import evaluation
    from experiments.helpers.schemas.evaluators import BracketEvaluator
    from idm import qmc, w1

    man = idm.manifolds.get("circle", d=1, D=100, key=jax.random.fold_in(key, 0))
    data = man.sample(jax.random.fold_in(key, 1), cfg.n)
    sigma = idm.schedule.bandwidth(cfg.n, 1)
    ev = BracketEvaluator(m_law=cfg.m_law, m_exact=cfg.m_exact)
    rows = []
    for rep in range(cfg.repeats):
        k = jax.random.fold_in(key, 10 + rep)
        t0 = time.perf_counter()
        span = evaluation.span_coordinates(man, data)
        order = qmc.spatial_order(span)

        def draw(kk, size, span=span, order=order):
            return qmc.sample(kk, span, size, sigma=sigma, order=order)

        res = evaluation.law_w1(ev, k, man, draw)
        t1 = time.perf_counter()
        x = idm.sample(k, data, cfg.m_exact, d=1, solver="exact").block_until_ready()
        ref, _ = evaluation.reference(man, jax.random.fold_in(k, 1), cfg.m_exact, "grid")
        fx, fr = evaluation.frame_coordinates(man, x), evaluation.frame_coordinates(man, ref)
        plug = w1.w1_result(fx, fr, method="exact").value
        t2 = time.perf_counter()
        pop = evaluation.frame_coordinates(man, man.sample(jax.random.fold_in(k, 2), cfg.m_exact))
        floor = w1.w1_result(pop, fr, method="exact").value
        rows.append(
            dict(kind="law", n=cfg.n, D=100, m_law=cfg.m_law, m_exact=cfg.m_exact,
                 bracket_value=res.value, bracket_error=res.error, bracket_lower=res.lower,
                 bracket_upper=res.upper, bracket_s=t1 - t0, plugin_value=plug,
                 plugin_floor=floor, plugin_s=t2 - t1, parts=dict(res.diagnostics["parts"]))
        )  # fmt: skip
        print(rows[-1], flush=True)
    return rows


def markdown(rows):
    lines = []
    kern = [r for r in rows if r["kind"] == "kernel"]
    if kern:
        lines += [
            "| m | n | D | block | GEMM GFLOP/s | idm GFLOP/s | idm/GEMM | naive GFLOP/s | x naive "
            "| NumPy GFLOP/s | x NumPy | x NumPy at GEMM rate | idm err | peak MB |",
            "|" + "---|" * 14,
        ]
        for r in kern:
            lines.append(
                f"| {r['m']} | {r['n']} | {r['D']} | {r['block_size']} | {r['gemm_gflops']:.1f} | "
                f"{r['idm_gflops']:.1f} | {r['idm_over_gemm']:.2f} | "
                f"{r.get('naive_gflops', float('nan')):.1f} | "
                f"{r.get('speedup_vs_naive', float('nan')):.2f} | "
                f"{r.get('numpy_gflops', float('nan')):.1f} | "
                f"{r.get('speedup_vs_numpy', float('nan')):.1f} | "
                f"{r.get('numpy_over_gemm_s', float('nan')):.1f} | "
                f"{r['idm_max_abs_err_vs_float64']:.1e} | {r['peak_bytes'] / 2**20:.0f} |"
            )
    law = [r for r in rows if r["kind"] == "law"]
    if law:
        lines += [
            "",
            "| n | m_law | m_exact | bracket W1 +- error | row seconds | plug-in W1 (m_exact) "
            "| its floor | plug-in seconds |",
            "|" + "---|" * 8,
        ]
        for r in law:
            lines.append(
                f"| {r['n']} | {r['m_law']} | {r['m_exact']} | {r['bracket_value']:.5f} +- "
                f"{r['bracket_error']:.5f} | {r['bracket_s']:.1f} | {r['plugin_value']:.5f} | "
                f"{r['plugin_floor']:.5f} | {r['plugin_s']:.1f} |"
            )
    samp = [r for r in rows if r["kind"] == "sampler"]
    if samp:
        lines += ["", "| solver | steps | n | m | D | seconds | samples/s |", "|" + "---|" * 7]
        for r in samp:
            lines.append(
                f"| {r['solver']} | {r['steps']} | {r['n']} | {r['m']} | {r['D']} | "
                f"{r['seconds']:.3f} | {r['samples_per_s']:.0f} |"
            )
    return "\n".join(lines)


def run(cfg: DictConfig, out_dir: Path):
    key = jax.random.key(cfg.seed)
    rows = []
    for i, shape in enumerate(cfg.kernel.shapes):
        for j, block in enumerate(cfg.kernel.blocks or [None]):
            rows.append(
                kernel_rows(
                    tuple(shape),
                    t=cfg.kernel.t,
                    repeats=cfg.repeats,
                    block=block,
                    numpy_peer=cfg.kernel.numpy_peer and j == 0,
                    naive=cfg.kernel.naive and j == 0,
                    key=jax.random.fold_in(key, i),
                )
            )
            print(markdown(rows[-1:]), flush=True)
    if cfg.sampler.enabled:
        rows += sampler_rows(cfg.sampler, jax.random.fold_in(key, 1000))
    if cfg.law.enabled:
        rows += law_rows(cfg.law, jax.random.fold_in(key, 3000))
    if cfg.evaluator.enabled:
        from experiments.helpers.w1bench import bench_w1

        rows += bench_w1(list(cfg.evaluator.sizes), key=jax.random.fold_in(key, 2000))
    meta = dict(
        device=str(jax.devices()[0].device_kind),
        backend=jax.default_backend(),
        jax=jax.__version__,
        platform=platform.platform(),
        cpu_model=_cpu_model(),
        cpu_count=len(jax.devices("cpu")),
        precision="highest",
        config=OmegaConf.to_container(cfg),
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    store.write_json(out_dir / "bench.json", dict(meta=meta, rows=rows))
    (out_dir / "bench.md").write_text(
        f"device: {meta['device']} ({meta['cpu_model']}, {meta['cpu_count']} devices)\n\n"
        + markdown(rows)
        + "\n"
    )
    print(markdown(rows))
    return rows


# Absolute, as in the other apps; its own folder, so --help lists no other app's groups.
_CONF = Path(__file__).resolve().parents[1] / "conf" / "bench"


@hydra.main(version_base="1.3", config_path=str(_CONF), config_name="bench")
def main(cfg: DictConfig) -> None:
    jax.config.update("jax_enable_x64", bool(cfg.x64))
    run(cfg, Path(HydraConfig.get().runtime.output_dir))


if __name__ == "__main__":
    main()
