"""The rate experiment: W1 of each method's samples against the population, as n grows.

``python -m experiments.rate [experiment=NAME] [key=value ...]`` (configs in ``conf/``, schema in
``idm/config.py``). One run takes one manifold (d, D) and a list of methods; inside it, for every
n of the grid and every seed it draws a training set, samples each method, and evaluates:

* ``w1``: W1 between the m samples and a population reference of ``m_ref`` points
  (``idm.metrics.w1_result``: exact, or Sinkhorn with its certified bracket ``w1_lower``,
  ``w1_upper`` and final ``epsilon``), with ``converged`` (this row's solve and its floor's)
  and ``n_iters``;
* ``w1_floor``: the same evaluator between an iid population sample of size m and that
  reference: the value a perfect sampler would get, reported beside every W1;
* ``copy_fraction`` (nearest / second-nearest training distance < 1/3), ``nn_median``
  (median distance to the nearest training point), ``manifold_distance`` (mean distance to the
  manifold) and, on spheres, ``radial_shrinkage`` E[1 - |x|] (1-Lipschitz, so a lower bound on
  W1) beside ``predicted_shrinkage`` d/2 sigma^2 (idm rows), the leading term;
* ``sample_s``, ``eval_s``, ``seconds``: wall time of sampling (the first seed of each n
  includes compilation), of W1, and of the whole row.

W1 is computed in the coordinates (x F^T, |x - x F^T F|), F the manifold's orthonormal frame:
the reference lies in the frame's span, so every Euclidean cost is unchanged (exactly, not
approximately) while the points shrink from D to embedding_dim + 1 coordinates. The training
points lie in that span too, so nearest-training distances are exact there as well (k-d tree).

PRNG: every draw is ``fold_in`` of the root key ``cfg.seed`` by (stream, seed, n, method), so
adding an n, a seed or a method leaves every other row unchanged. The reference and the floor
sample depend on the seed only, so all n of one seed share them (their noise is common across
n, and the bootstrap over seeds in ``idm.rates`` resamples it as a unit). The seeds run one
after another: evaluation, not sampling, dominates the time, so vmapping the sampler over
seeds would not pay; each (n, method) compiles once.

Outputs in the run directory (``HydraConfig.get().runtime.output_dir``): rows.csv (one row per
(method, n, seed)), nearest.csv (per-sample nearest distances for the memorization histogram),
summary.json (fits, local slopes, config, versions, device, precision), rate.png and
memorization.png. After a multirun, ``GatherSweep`` combines the jobs in the sweep directory.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import logging
import math
import platform
import sys
import time
import typing
from pathlib import Path

import hydra
import jax
import jax.numpy as jnp
import numpy as np
from hydra.core.config_store import ConfigStore
from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf, open_dict
from scipy.spatial import cKDTree

import idm
from experiments import collect, plots, preflight, store
from idm import manifolds, metrics, semidiscrete
from idm.config import BANDWIDTH_METHODS, METHODS, RunConfig

log = logging.getLogger(__name__)

# Absolute, so that the app finds its configs whether it runs as __main__ or is imported (the
# submitit launcher's jobs import it).
_CONF = Path(__file__).resolve().parents[1] / "conf"
GROUPS = ("manifold", "method", "evaluator", "sweep", "experiment")

_HAVE_POT = importlib.util.find_spec("ot") is not None

# Streams of the root key (never reorder: rows would change).
_FRAME, _DATA, _SAMPLE, _REFERENCE, _FLOOR, _EVAL = range(6)


ConfigStore.instance().store(name="rate_schema", node=preflight.schema_node(RunConfig))


def _check_keys(cfg: DictConfig, schema: type, prefix: str = "") -> None:
    """Raises on keys the schema lacks (a ``+key=...`` override can add them past Hydra)."""
    fields = {f.name: f.type for f in dataclasses.fields(schema)}
    hints = typing.get_type_hints(schema)
    for key in cfg.keys():
        if key not in fields:
            raise ValueError(f"unknown config key {prefix}{key!s} (not in {schema.__name__})")
        if dataclasses.is_dataclass(hints[key]) and isinstance(cfg[key], DictConfig):
            _check_keys(cfg[key], hints[key], f"{prefix}{key}.")


def to_run_config(cfg: DictConfig) -> RunConfig:
    """The typed, frozen config (value checks in ``idm.config`` run here)."""
    cfg = cfg.copy()
    with open_dict(cfg):
        cfg.pop("hydra", None)
    _check_keys(cfg, RunConfig)
    return OmegaConf.to_object(cfg)


def _resolve_hash(*, _root_: DictConfig) -> str:
    """``${idm_hash:}``: the job's config hash, for its output directory (``store``)."""
    keys = [k for k in _root_.keys() if k != "hydra"]
    return store.config_hash(to_run_config(OmegaConf.masked_copy(_root_, keys)))


OmegaConf.register_new_resolver("idm_hash", _resolve_hash, replace=True)


# ----------------------------------------------------------------------------- start-up checks

# Bytes per entry of an m x m_ref problem held by the exact evaluator: the float64 cost matrix
# and about two working copies in the solver (scipy's assignment, or POT's plan).
_EXACT_BYTES_PER_PAIR = 24


def memory_estimate(cfg: RunConfig) -> dict[str, float]:
    """Peak bytes of the largest cell, by part (the evaluator's and the sampler's)."""
    sw, itemsize = cfg.sweep, 8 if cfg.x64 else 4
    m, m_ref, n, D = sw.m, sw.reference_size, max(sw.ns), cfg.manifold.ambient_dim
    block = cfg.method.block_size or 256
    sampler = itemsize * (n * D + 4 * m * D + 2 * m * min(block, n))
    if cfg.evaluator.method == "exact":
        evaluator = _EXACT_BYTES_PER_PAIR * m * m_ref
    else:  # Sinkhorn: online beyond dense_max entries, so linear in m
        evaluator = 8 * min(m * m_ref, 2**24) * 4 + 64 * (m + m_ref)
    return {"evaluator": float(evaluator), "sampler": float(sampler)}


def check_run(cfg: RunConfig) -> None:
    """Checks that need more than one field (the single-field ones run in ``idm.config``).

    Raises:
        preflight.InputError: naming the field, with what would be allowed.
    """
    mc, sw, mf = cfg.method, cfg.sweep, cfg.manifold
    if set(mc.names) & {"idm", "early_stop", "kde"}:
        s = mc.sigma(sw.ns[0], mf.d) ** 2
        if not mc.T > s:
            raise preflight.InputError(
                "method.T",
                f"must exceed the stopping time sigma^2 = {s:.4g} (c = {mc.c}, n = {sw.ns[0]}, "
                f"d = {mf.d}); got T = {mc.T}",
            )
    need = memory_estimate(cfg)
    total, avail = sum(need.values()) + 2**29, preflight.available_memory()
    if total > avail:
        msg = (
            f"m = {sw.m} (m_ref = {sw.reference_size}) needs about "
            f"{preflight.format_bytes(total)} but {preflight.format_bytes(avail)} are available"
        )
        if cfg.evaluator.method == "exact":
            # Largest m = m_ref with 24 m^2 + a m + b <= room (the sampler's bytes are a m + b).
            item, n, D = 8 if cfg.x64 else 4, max(sw.ns), mf.ambient_dim
            a = item * (4 * D + 2 * min(cfg.method.block_size or 256, n))
            room = max(avail - 2**29 - item * n * D, 0)
            k = _EXACT_BYTES_PER_PAIR
            fits = int((-a + math.sqrt(a * a + 4 * k * room)) / (2 * k))
            msg += (
                f": the exact evaluator holds an m x m_ref float64 problem; m = m_ref <= {fits} "
                "fits here, or use evaluator=sinkhorn (memory linear in m)"
            )
        raise preflight.InputError("sweep.m", msg)


# ----------------------------------------------------------------------------- evaluation


def _frame_coordinates(man, x: jax.Array) -> np.ndarray:
    """(m, k + 1) float64 coordinates (x F^T, |x - x F^T F|) that keep costs to the span of F."""
    x = np.asarray(x, np.float64)
    frame = np.asarray(man.frame, np.float64)
    y = x @ frame.T
    r = np.linalg.norm(x - y @ frame, axis=1, keepdims=True)
    return np.concatenate([y, r], axis=1)


def _random_rotation(key: jax.Array, k: int) -> np.ndarray:
    """Haar-random orthogonal (k, k) matrix."""
    g = np.asarray(jax.random.normal(key, (k, k), jnp.float64 if _x64() else jnp.float32))
    q, r = np.linalg.qr(g.astype(np.float64))
    return q * np.sign(np.diag(r))


def _grid_canonical(man, key: jax.Array, size: int) -> np.ndarray | None:
    """A randomly rotated low-discrepancy point set of the uniform law, or None if none here.

    Circle (and the torus with d = 1): equally spaced angles with a uniform random offset.
    S^2: the Fibonacci lattice, randomly rotated. Its own W1 error is O(1/size) on the circle
    and O(size^(-1/2)) with a small constant on S^2 (spherical-cap discrepancy), well under the
    iid sample's.
    """
    uniform_sphere = man.name in ("circle", "sphere")
    if (uniform_sphere or man.name == "torus") and man.d == 1:
        offset = float(jax.random.uniform(key, ()))
        a = 2 * np.pi * (np.arange(size) + offset) / size
        return np.stack([np.cos(a), np.sin(a)], axis=1)
    if uniform_sphere and man.d == 2:
        i = np.arange(size) + 0.5
        z = 1 - 2 * i / size
        phi = np.pi * (1 + 5**0.5) * i
        rho = np.sqrt(1 - z * z)
        pts = np.stack([rho * np.cos(phi), rho * np.sin(phi), z], axis=1)
        return pts @ _random_rotation(key, 3).T
    return None


def _reference(man, key: jax.Array, size: int, kind: str) -> tuple[jax.Array, str]:
    """The population reference (size, D) and the kind actually used ("grid" or "iid")."""
    if kind == "grid":
        canon = _grid_canonical(man, key, size)
        if canon is not None:
            frame = np.asarray(man.frame, np.float64)
            return jnp.asarray(canon @ frame, man.frame.dtype), "grid"
    return man.sample(key, size), "iid"


def _frame_sampler(man):
    """The population sampler in frame coordinates (jax-traceable, for the semidiscrete solver).

    Build it once per run: the solver's compiled code is cached on this function's identity.
    """
    frame = man.frame

    def sample(key, k):
        x = man.sample(key, k)
        y = x @ frame.T
        r = jnp.linalg.norm(x - y @ frame, axis=1, keepdims=True)
        return jnp.concatenate([y, r], axis=1)

    return sample


def _semidiscrete(man, x, ev, key, sampler) -> metrics.W1Result:
    res = semidiscrete.semidiscrete_w1_result(
        key,
        _frame_coordinates(man, x),
        sampler,
        n_eval=ev.n_eval or 2**18,
        upper=False,
        **({"num_iterations": ev.max_iterations} if ev.max_iterations else {}),
    )
    return metrics.W1Result(
        value=float(res.value),
        converged=bool(res.value_se <= 0.005 * res.value),
        n_iters=int(res.n_iters),
        method="semidiscrete",
        epsilon=float(res.epsilon),
        lower=float(res.lower),
    )


def _w1(man, x, ref, ev, key=None, sampler=None) -> metrics.W1Result:
    """W1 by the configured evaluator, in frame coordinates.

    Exact W1 between clouds of different sizes (``train`` at n < m) goes to POT's network
    simplex when POT is installed: measured 3-5x faster here than the assignment problem on
    the cost matrix repeated up to the least common multiple of the sizes (the metric's
    default), with the same value.
    """
    kwargs = {
        k: v
        for k, v in (
            ("rtol", ev.rtol),
            ("epsilon", ev.epsilon),
            ("threshold", ev.threshold),
            ("max_iterations", ev.max_iterations),
        )
        if v is not None and ev.method == "sinkhorn"
    }
    if ev.method == "semidiscrete":
        return _semidiscrete(man, x, ev, key, sampler)
    if ev.method == "exact" and x.shape[0] != ref.shape[0] and _HAVE_POT:
        kwargs["max_size"] = 0
    return metrics.w1_result(
        _frame_coordinates(man, x), _frame_coordinates(man, ref), method=ev.method, **kwargs
    )


# ----------------------------------------------------------------------------- the sweep


def _x64() -> bool:
    return bool(jax.config.jax_enable_x64)


def _key(root: jax.Array, *path: int) -> jax.Array:
    for p in path:
        root = jax.random.fold_in(root, p)
    return root


def _sample(cfg: RunConfig, key, data, method: str, n: int, m: int) -> jax.Array:
    mc = cfg.method
    num = min(n, m) if method == "train" else m
    return idm.sample(
        key,
        data,
        num,
        method=method,
        d=cfg.manifold.d,
        sigma=mc.sigma(n, cfg.manifold.d),
        solver=mc.solver,
        steps=mc.steps,
        T=mc.T,
        inertia=mc.inertia,
        t_end=mc.t_end,
        block_size=mc.block_size,
        precision=mc.precision,
    )


def nearest_in_frame(man, x, data) -> np.ndarray:
    """(m, 2) exact distances to the two nearest training points, by a k-d tree.

    The training points lie in the span of the frame, so distances are computed exactly in
    the frame coordinates (embedding_dim + 1 of them), where a k-d tree answers in
    milliseconds; ``metrics.nearest_distances`` gives the same numbers (checked in
    ``tests/test_configs.py``) for any data, at about 0.2 s per row at m = 2048, n = 8192 on
    this CPU.
    """
    tree = cKDTree(_frame_coordinates(man, data))
    dist, _ = tree.query(_frame_coordinates(man, x), k=2)
    return dist


def _row_metrics(
    cfg: RunConfig, man, x, data, sigma: float, method: str
) -> tuple[dict, np.ndarray]:
    """Per-row memorization and geometry metrics, and the (m, 2) nearest distances.

    Copies follow ``idm.metrics.is_copy`` (the criterion of ``copy_mask``).
    """
    nearest = nearest_in_frame(man, x, data)
    out = {
        "copy_fraction": float(np.mean(metrics.is_copy(nearest))),
        "nn_median": float(np.median(nearest[:, 0])),
        "manifold_distance": metrics.distance_to_manifold(x, man),
        "radial_shrinkage": math.nan,
        "predicted_shrinkage": math.nan,
    }
    if cfg.manifold.is_sphere:
        out["radial_shrinkage"] = float(jnp.mean(1.0 - jnp.linalg.norm(x, axis=1)))
        if method == "idm":
            out["predicted_shrinkage"] = cfg.manifold.d / 2 * sigma**2
    return out, nearest


def _progress(cfg: RunConfig, total: int):
    from tqdm.auto import tqdm

    return tqdm(total=total, disable=not (cfg.progress and sys.stderr.isatty()), unit="cell")


def environment(cfg: RunConfig) -> dict:
    """Versions, device and numerical settings, for summary.json."""
    import jaxlib
    import ott

    dev = jax.devices()[0]
    return {
        "python": platform.python_version(),
        "jax": jax.__version__,
        "jaxlib": jaxlib.__version__,
        "ott": ott.__version__,
        "numpy": np.__version__,
        "backend": jax.default_backend(),
        "device": getattr(dev, "device_kind", str(dev)),
        "device_count": jax.device_count(),
        "x64": _x64(),
        "jax_default_matmul_precision": jax.config.jax_default_matmul_precision,
        "score_precision": cfg.method.precision,
    }


class NonFiniteResult(RuntimeError):
    """A W1 or a metric came out NaN or infinite: nothing is written for that cell."""


def _check_finite(row: dict) -> None:
    bad = [
        k for k in ("w1", "w1_floor", "nn_median", "manifold_distance") if not np.isfinite(row[k])
    ]
    if bad:
        raise NonFiniteResult(
            f"non-finite {', '.join(bad)} at method={row['method']} n={row['n']} seed={row['seed']}"
            f" ({row['manifold']}, d={row['d']}, D={row['D']}); no row written"
        )


def run(cfg: RunConfig, out_dir: str | Path | None = None) -> list[dict]:
    """Runs the sweep of one config and writes its outputs; returns the rows.

    Restartable (``experiments.store``): a directory that already holds this config's complete
    result is returned as it is (``skip_existing``), and the cells a killed run finished are
    reloaded from its checkpoint instead of being computed again.

    Args:
        cfg: the typed config.
        out_dir: where outputs go; None takes Hydra's run directory.

    Returns:
        One dict per (method, n, seed) with the columns of ``plots.ROW_COLUMNS``.
    """
    out = Path(out_dir if out_dir is not None else HydraConfig.get().runtime.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    digest = store.config_hash(cfg)
    if cfg.skip_existing and store.is_complete(out, digest):
        log.info("results of config %s exist in %s; skipping (skip_existing=true)", digest, out)
        return plots.read_csv(out / "rows.csv")
    if cfg.x64 != _x64():
        log.warning("config x64=%s but jax_enable_x64=%s: running with JAX's", cfg.x64, _x64())
    t_start = time.perf_counter()
    mf, sw, ev = cfg.manifold, cfg.sweep, cfg.evaluator
    root = jax.random.key(cfg.seed)
    man = manifolds.get(
        mf.name,
        d=mf.d,
        D=mf.ambient_dim,
        key=_key(root, _FRAME),
        **({"kappa": mf.kappa} if mf.kappa is not None else {}),
    )
    m, m_ref = sw.m, sw.reference_size

    rows, nearest_rows = store.load_partial(out, digest) if cfg.skip_existing else ([], [])
    done = {(r["n"], r["seed"]) for r in rows}
    if done:
        log.info("resuming: %d of %d cells reloaded from %s", len(done), len(sw.ns) * sw.seeds, out)
    references, floors = {}, {}
    population = _frame_sampler(man) if ev.method == "semidiscrete" else None
    hist_methods = {"dm", "idm", "cfdm"} & set(cfg.method.names)
    with _progress(cfg, len(sw.ns) * sw.seeds) as bar:
        bar.update(len(done))
        for n in sw.ns:
            sigma = cfg.method.sigma(n, mf.d)
            for seed in range(sw.seeds):
                if (n, seed) in done:
                    continue
                if seed not in references:
                    ref, kind = _reference(man, _key(root, _REFERENCE, seed), m_ref, ev.reference)
                    if ev.method == "semidiscrete":
                        kind = "population"
                    floor = _w1(
                        man,
                        man.sample(_key(root, _FLOOR, seed), m),
                        ref,
                        ev,
                        _key(root, _EVAL, seed),
                        population,
                    )
                    references[seed], floors[seed] = (ref, kind), floor
                ref, kind = references[seed]
                data = man.sample(_key(root, _DATA, seed, n), n)
                cell, cell_nearest = [], []
                for method in cfg.method.names:
                    t0 = time.perf_counter()
                    key = _key(root, _SAMPLE, seed, n, METHODS.index(method))
                    x = _sample(cfg, key, data, method, n, m).block_until_ready()
                    t1 = time.perf_counter()
                    res = _w1(
                        man,
                        x,
                        ref,
                        ev,
                        _key(root, _EVAL, seed, n, 1 + METHODS.index(method)),
                        population,
                    )
                    t2 = time.perf_counter()
                    extra, nearest = _row_metrics(cfg, man, x, data, sigma, method)
                    t3 = time.perf_counter()
                    row = {
                        "experiment": cfg.name,
                        "manifold": mf.name,
                        "d": mf.d,
                        "D": man.D,
                        "n": n,
                        "seed": seed,
                        "method": method,
                        "c": cfg.method.c if method in BANDWIDTH_METHODS else math.nan,
                        "sigma": sigma,
                        "m": int(x.shape[0]),
                        "m_ref": m_ref,
                        "evaluator": ev.method,
                        "reference": kind,
                        "w1": res.value,
                        "w1_lower": res.lower,
                        "w1_upper": res.upper,
                        "epsilon": res.epsilon,
                        "w1_floor": floors[seed].value,
                        "converged": bool(res.converged and floors[seed].converged),
                        "n_iters": res.n_iters,
                        **extra,
                        "sample_s": t1 - t0,
                        "eval_s": t2 - t1,
                        "seconds": t3 - t0,
                    }
                    _check_finite(row)
                    cell.append(row)
                    if seed == 0 and method in hist_methods and sw.hist_samples:
                        cell_nearest += [
                            {
                                "manifold": mf.name,
                                "d": mf.d,
                                "D": man.D,
                                "method": method,
                                "n": n,
                                "seed": seed,
                                "nn1": a,
                                "nn2": b,
                            }
                            for a, b in nearest[: sw.hist_samples].tolist()
                        ]
                rows += cell
                nearest_rows += cell_nearest
                store.save_partial(out, digest, rows, nearest_rows)
                log.info(
                    "n=%d seed=%d floor=%.4g %s (%.1fs)",
                    n,
                    seed,
                    floors[seed].value,
                    " ".join(
                        f"{r['method']}={r['w1']:.4g}{'' if r['converged'] else '!'}" for r in cell
                    ),
                    sum(r["seconds"] for r in cell),
                )
                bar.update()
    rows.sort(key=lambda r: (sw.ns.index(r["n"]), r["seed"], cfg.method.names.index(r["method"])))
    nearest_rows.sort(key=lambda r: (sw.ns.index(r["n"]), cfg.method.names.index(r["method"])))
    _write_outputs(cfg, out, digest, rows, nearest_rows, time.perf_counter() - t_start)
    store.clear_partial(out)
    return rows


def _write_outputs(cfg: RunConfig, out: Path, digest, rows, nearest_rows, runtime_s) -> None:
    """rows.csv, nearest.csv and the figures, then summary.json last: its hash marks completion."""
    plots.write_csv(out / "rows.csv", rows, plots.ROW_COLUMNS)
    if nearest_rows:
        plots.write_csv(out / "nearest.csv", nearest_rows, plots.NEAREST_COLUMNS)
    fits = plots.fit_table(rows, floor_factor=cfg.fit.floor_factor, n_boot=cfg.fit.n_boot)
    unconverged = sum(not r["converged"] for r in rows)
    if unconverged:
        log.warning("%d of %d rows come from an unconverged evaluation", unconverged, len(rows))
    if cfg.figures:
        plots.draw_all(rows, nearest_rows, out, fits=fits, floor_factor=cfg.fit.floor_factor)
    summary = {
        "experiment": cfg.name,
        "config_hash": digest,
        "fits": fits,
        "unconverged_rows": unconverged,
        "runtime_s": runtime_s,
        "config": dataclasses.asdict(cfg),
        "environment": environment(cfg),
    }
    store.write_json(out / "summary.json", summary)


class GatherSweep(Callback):
    """Hydra callback: after a multirun, combine the jobs' rows, summaries and figures."""

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:  # noqa: D102
        summary = collect.collect(
            [config.hydra.sweep.dir], floor_factor=config.fit.floor_factor, n_boot=config.fit.n_boot
        )
        log.info("collected %d rows into %s", summary["rows"], config.hydra.sweep.dir)


@hydra.main(version_base="1.3", config_path=str(_CONF), config_name="config")
def main(cfg: DictConfig) -> None:
    rc = to_run_config(cfg)
    jax.config.update("jax_enable_x64", rc.x64)
    run(rc)


if __name__ == "__main__":
    # Run the importable module's main, not this __main__ copy: launchers that pickle the task
    # (submitit) then pickle it by reference, and the job process imports experiments.rate,
    # which registers the ${idm_hash:} resolver.
    from experiments.rate import _CONF, GROUPS, check_run, main, to_run_config

    preflight.guard(
        sys.argv[1:],
        conf_dir=_CONF,
        config_name="config",
        to_config=to_run_config,
        check=check_run,
        groups=GROUPS,
    )
    main()
