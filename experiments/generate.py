"""New samples from your own point cloud, with a report on what they are.

``python -m experiments.generate data_path=FILE num_samples=M [d=auto|INT] [c=auto|FLOAT]
[sigma=FLOAT] [out=FILE]`` (schema: ``experiments.helpers.schemas.generate.GenerateConfig``;
config root: conf/generate/)

1. Loads the (n, D) training points from .npy, .npz or .csv and refuses, with one line naming
   the problem and exit status 2 before anything is computed or written, a file that is
   missing, unreadable, empty, not 2-D, holds NaN or inf, or has fewer than 2 points.
2. ``d=auto`` estimates the intrinsic dimension (``idm.intrinsic_dim``); ``scale=auto``
   measures the data's length scale (``idm.bandwidth.length_scale``: 1 for a unit sphere);
   ``c=auto`` chooses the bandwidth constant on a held-out split (``idm.bandwidth.select_c``:
   held-out exact W1, guarded against copying); sigma = c * scale * n^(-1/(d+4)) unless
   ``sigma`` is given. The reverse process (sde, ode) starts at max(T, 4 sigma^2).
3. Draws ``num_samples`` IDM samples (``idm.sample``) in batches of ``batch``, with a progress
   bar on a terminal; every batch's key is ``fold_in`` of the root key by its index.
4. Writes the samples to ``out`` (atomically, format by extension) and ``<out>.report.json``
   beside it (an existing file is replaced only with ``overwrite=true``; ``out`` may not be the
   input, and its folder must exist): n, D, d, c, sigma and where they came from, the copy
   fraction (a sample is a copy when its nearest training point is 3 times closer than the
   nearest distinct one, duplicated training rows counting once: ``duplicate_rows``), the
   quantiles of the nearest-training distances beside the training set's own
   nearest-neighbour spacing, and where the copies lie (the local spacing of the data around
   them: a fixed-bandwidth kernel copies in sparse tails).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import sys
import time
from pathlib import Path

import hydra
import jax
import numpy as np
from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

import idm
from experiments.helpers import preflight, store
from experiments.helpers.points import load_points, save_points
from experiments.helpers.schemas.generate import GenerateConfig
from idm import intrinsic_dim, memorization, neighbours, schedule

log = logging.getLogger(__name__)

# Its own config root (each app has one), so --help lists no other app's groups.
_CONF = Path(__file__).resolve().parents[1] / "conf" / "generate"
# Streams of the root key (never reorder).
_SAMPLE, _BANDWIDTH = 1, 2  # 0 was a data split, no longer drawn
# Neighbour rank that measures the local spacing of the data around a sample.
_SPACING_K = 10

ConfigStore.instance().store(name="generate_schema", node=preflight.schema_node(GenerateConfig))


def to_config(cfg: DictConfig) -> GenerateConfig:
    """The typed, checked config."""
    if OmegaConf.is_missing(cfg, "data_path"):
        raise preflight.InputError("data_path", "missing: give data_path=FILE (.npy, .npz, .csv)")
    return preflight.typed_config(cfg)


# ----------------------------------------------------------------------------- checks


def report_path(out: str | Path) -> Path:
    """The report of an output file: ``<out>.report.json``.

    From the whole name, so ``x.npy`` and ``x.csv`` have reports of their own.
    """
    out = Path(out)
    return out.with_name(out.name + ".report.json")


def check_paths(cfg: GenerateConfig) -> None:
    """Never lose a file: ``out`` is not the input and its folder exists.

    Neither ``out`` nor its report is replaced unless ``overwrite=true``.
    """
    out, data = Path(cfg.out), Path(cfg.data_path)
    if out.exists() and data.exists() and out.resolve() == data.resolve():
        raise preflight.InputError("out", f"{cfg.out} is the input data_path; name another file")
    for path in (out, report_path(out)):
        preflight.check_output(path, overwrite=cfg.overwrite)


def check(cfg: GenerateConfig, data: np.ndarray) -> None:
    """Checks between the config and the data (paths, dimensions, stopping time, memory)."""
    check_paths(cfg)
    n, D = data.shape
    if cfg.d != "auto" and cfg.d > D:
        raise preflight.InputError("d", f"must be <= D = {D} (the data's dimension), got {cfg.d}")
    distinct = memorization.distinct(data).points.shape[0]
    if distinct < 2:
        raise preflight.InputError(
            "data_path", f"all {n} points are equal (one distinct point): the data have no spread"
        )
    need = intrinsic_dim.DEFAULT_K[intrinsic_dim.METHODS[0]] + 1
    if cfg.d == "auto" and distinct < need:
        raise preflight.InputError(
            "d",
            f"d=auto needs at least {need} distinct points to estimate the intrinsic dimension, "
            f"the data have {distinct}{f' ({n} rows)' if n != distinct else ''}; give d=INT",
        )
    item = 8 if cfg.x64 else 4
    batch = min(cfg.batch, cfg.num_samples)
    need = item * (2 * n * D + 2 * cfg.num_samples * D + 6 * batch * D) + 2**29
    avail = preflight.available_memory()
    if need > avail:
        fits = max(int((avail - 2**29 - item * (2 * n * D + 6 * batch * D)) / (2 * item * D)), 0)
        raise preflight.InputError(
            "num_samples",
            f"{cfg.num_samples} samples of the {n} x {D} data need about "
            f"{preflight.format_bytes(need)} but {preflight.format_bytes(avail)} are available; "
            f"num_samples <= {fits} fits here",
        )


# ----------------------------------------------------------------------------- the run


def _progress(cfg: GenerateConfig, total: int, desc: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, disable=not (cfg.progress and sys.stderr.isatty()))


def _resolve_d(cfg: GenerateConfig, data) -> tuple[int, dict]:
    if cfg.d != "auto":
        return cfg.d, {"source": "given"}
    # 5000 query points: the estimator's accuracy target (d = 1..8 to +-0.5) holds there, and
    # the cost stays 5000 x n x D however large the file.
    est = intrinsic_dim.estimate(data, max_queries=5000)
    info = {"source": "auto", "estimator": est.method, "estimate": float(est.value)}
    log.info("intrinsic dimension: %s estimate %.3f -> d = %d", est.method, est.value, est.d)
    return int(est.d), info


def _resolve_scale(cfg: GenerateConfig, data) -> tuple[float, dict]:
    if cfg.scale != "auto":
        return float(cfg.scale), {"source": "given"}
    from idm import bandwidth

    scale = bandwidth.length_scale(data)
    if not scale > 0:
        raise preflight.InputError("data_path", "all points are equal: the data have no spread")
    return scale, {"source": "auto", "statistic": "rms distance to the mean"}


def _resolve_c(cfg: GenerateConfig, key, data, d: int, scale: float) -> tuple[float, dict]:
    if cfg.c != "auto":
        return float(cfg.c), {"source": "given"}
    from idm import bandwidth

    res = bandwidth.select_c(key, data, d, scale=scale)
    info = {"source": "auto", **bandwidth.summary(res)}
    log.info("bandwidth: c = %.4g chosen on a held-out split (decided by the %s)", res.c,
             res.decided_by)  # fmt: skip
    return float(res.c), info


def start_time(cfg: GenerateConfig, sigma: float) -> float:
    """The reverse process's start: ``T``, or 4 sigma^2 when that is later (never a refusal).

    ``sigma`` at unit scale (the sampler's coordinates ``(x - mean) / scale``). The start must
    come before the stopping time sigma^2; a large c can put sigma^2 above the configured T,
    and then the start follows it. Only the sde and ode solvers use it.
    """
    return max(float(cfg.T), 4.0 * sigma**2)


def sample_batches(
    cfg: GenerateConfig, key, data, *, d: int, sigma: float, scale: float = 1.0
) -> np.ndarray:
    """``num_samples`` samples in batches of ``batch`` (the last batch truncated).

    ``sigma`` is in data units; the sampler runs at unit scale (``idm.sample`` with ``scale``),
    where ``T`` lives.
    """
    batches = math.ceil(cfg.num_samples / cfg.batch)
    size = min(cfg.batch, cfg.num_samples)
    out = []
    with _progress(cfg, cfg.num_samples, "sampling") as bar:
        for i in range(batches):
            x = idm.sample(
                jax.random.fold_in(key, i),
                data,
                size,
                method=cfg.method,
                d=d,
                sigma=sigma,
                scale=scale,
                solver=cfg.solver,
                steps=cfg.steps,
                T=start_time(cfg, sigma / scale),
                inertia=cfg.inertia,
                block_size=cfg.block_size,
                precision=cfg.precision,
            )
            out.append(np.asarray(x))
            bar.update(min(size, cfg.num_samples - i * size))
    return np.concatenate(out)[: cfg.num_samples]


def report(samples, data, *, max_queries: int = 20000, key=None) -> dict:
    """Copies, nearest-training distances and where the copies lie.

    Against the distinct training points (``idm.memorization.distinct``): duplicated rows count
    once, for the copy rule and for the training set's own spacing. Every value is finite or
    None (a ratio over a zero spacing, say).
    """
    m = samples.shape[0]
    idx = np.arange(m)
    if m > max_queries:  # the statistics of a uniform subsample of the samples
        key = jax.random.key(0) if key is None else key
        idx = np.sort(np.asarray(jax.random.permutation(key, m)[:max_queries]))
    x = samples[idx]
    training = memorization.TrainingIndex(data)
    near = training.nearest(x)
    copies = training.is_copy(near)
    points = training.distinct.points
    k = min(_SPACING_K, points.shape[0])
    spacing = neighbours.nearest_distances(x, points, k=k)[:, k - 1]
    sub = points[: min(points.shape[0], max_queries)]
    train_nn = (
        neighbours.knn(sub, points, 1, exclude=np.arange(len(sub))).distances[:, 0]
        if points.shape[0] >= 2
        else np.zeros(0)
    )
    q = [5, 25, 50, 75, 95]
    quantiles = np.percentile(near[:, 0], q).tolist()
    train_spacing = float(np.median(train_nn)) if train_nn.size else None
    out = {
        "samples_measured": int(len(idx)),
        "copy_fraction": float(np.mean(copies)),
        "copies": int(np.sum(copies)),
        "copy_rule": memorization.RULE,
        "duplicate_rows": training.duplicates,
        "distinct_points": int(points.shape[0]),
        "duplicate_tolerance": training.tolerance,
        "nearest_quantiles": dict(zip(map(str, q), quantiles, strict=True)),
        "train_spacing_median": train_spacing,
        "nearest_over_spacing": _ratio(float(np.median(near[:, 0])), train_spacing),
    }
    if copies.any():
        out["copy_locations"] = {
            "local_spacing_ratio": _ratio(
                float(np.median(spacing[copies])), float(np.median(spacing))
            ),  # fmt: skip
            "note": f"median distance to the {k}-th nearest distinct training point around the "
            "copies, over the same for all samples (> 1: the copies lie in sparse regions)",
            "sample_rows": idx[copies][:20].tolist(),
        }
    return out


def _ratio(a: float, b: float | None) -> float | None:
    """``a / b``, or None where it is not a finite number (``b`` zero or missing)."""
    if b is None or not b > 0 or not math.isfinite(a / b):
        return None
    return a / b


def run(cfg: GenerateConfig, data: np.ndarray | None = None) -> dict:
    """Generates, writes the samples and the report; returns the report."""
    t0 = time.perf_counter()
    data = load_points(cfg.data_path) if data is None else data
    check(cfg, data)
    n, D = data.shape
    root = jax.random.key(cfg.seed)
    dtype = np.float64 if cfg.x64 else np.float32
    x = jax.numpy.asarray(data.astype(dtype))
    d, d_info = _resolve_d(cfg, x)
    if d > D:
        raise preflight.InputError("d", f"estimated d = {d} exceeds D = {D}")
    scale, scale_info = _resolve_scale(cfg, data)
    c, c_info = _resolve_c(cfg, jax.random.fold_in(root, _BANDWIDTH), x, d, scale)
    if cfg.sigma is not None:
        sigma = float(cfg.sigma)
    else:
        sigma = float(schedule.bandwidth(n, d, c, scale))
    log.info("n = %d, D = %d, d = %d, c = %.4g, scale = %.4g, sigma = %.4g", n, D, d, c, scale,
             sigma)  # fmt: skip
    samples = sample_batches(
        cfg, jax.random.fold_in(root, _SAMPLE), x, d=d, sigma=sigma, scale=scale
    )
    t1 = time.perf_counter()
    rep = {
        "data_path": str(cfg.data_path),
        "out": str(cfg.out),
        "n": n,
        "D": D,
        "d": d,
        "d_info": d_info,
        "c": c,
        "c_info": c_info,
        "scale": scale,
        "scale_info": scale_info,
        "sigma": sigma,
        "T": start_time(cfg, sigma / scale),
        "method": cfg.method,
        "solver": cfg.solver,
        "num_samples": cfg.num_samples,
        **report(samples, x),
        "sample_s": t1 - t0,
        "config": dataclasses.asdict(cfg),
        "environment": {
            "jax": jax.__version__,
            "backend": jax.default_backend(),
            "x64": bool(jax.config.jax_enable_x64),
        },
    }
    rep["seconds"] = time.perf_counter() - t0
    check_paths(cfg)  # again: a file may have appeared while the samples were drawn
    save_points(cfg.out, samples.astype(data.dtype if data.dtype.kind == "f" else dtype))
    out = Path(cfg.out)
    store.write_json(report_path(out), rep)
    log.info(
        "wrote %d samples to %s: copy fraction %.4f, median nearest-training distance %.4g "
        "(training spacing %s; %d duplicate training rows counted once)",
        cfg.num_samples,
        out,
        rep["copy_fraction"],
        rep["nearest_quantiles"]["50"],
        "n/a" if rep["train_spacing_median"] is None else f"{rep['train_spacing_median']:.4g}",
        rep["duplicate_rows"],
    )
    return rep


@hydra.main(version_base="1.3", config_path=str(_CONF), config_name="generate")
def main(cfg: DictConfig) -> None:
    rc = to_config(cfg)
    jax.config.update("jax_enable_x64", rc.x64)
    # run loads and checks the data once, before anything is computed or written; an
    # InputError found then or later is one line and exit status 2
    preflight.refuse(lambda: run(rc))


if __name__ == "__main__":
    from experiments.generate import _CONF, main, to_config

    preflight.guard(
        sys.argv[1:], conf_dir=_CONF, config_name="generate", to_config=to_config, groups=()
    )
    main()
