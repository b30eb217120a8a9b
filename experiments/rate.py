"""The rate experiment: W1 of each method's samples against the population, as n grows.

``python -m experiments.rate [experiment=NAME] [key=value ...]`` (config root ``conf/rate/``,
schema in ``experiments/helpers/schemas/rate.py``). One run takes one manifold (d, D) and a list
of methods; inside it, for every n of the grid and every seed, one cell
(:func:`experiments.helpers.cells.evaluate_cell`) draws a training set, samples each method and
measures W1 beside its floor, the copy fraction, the nearest-training distance and the distance
to the manifold, one :class:`~experiments.helpers.rows.Row` per method. The seeds run one after
another: evaluation, not sampling, dominates the time, so vmapping the sampler over seeds would
not pay; each (n, method) compiles once.

Outputs in the run directory (``HydraConfig.get().runtime.output_dir``): rows.csv (one row per
(method, n, seed)), nearest.csv (per-sample nearest distances for the memorization histogram),
summary.json (fits, local slopes, config, versions, device, precision), rate.png and
memorization.png. After a multirun, ``GatherSweep`` combines the jobs in the sweep directory.
Restartable (``experiments.helpers.store``): finished jobs skip themselves, killed ones resume
from their last finished cell.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import platform
import sys
import time
from pathlib import Path

import hydra
import jax
import numpy as np
from hydra.core.config_store import ConfigStore
from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf, open_dict

from experiments import collect
from experiments.figures import rate as rate_figures
from experiments.helpers import cells, fits, preflight, store
from experiments.helpers import rows as rowlib
from experiments.helpers.schemas.evaluators import EVALUATORS, EvaluatorConfig
from experiments.helpers.schemas.rate import AUTO_METHODS, RunConfig
from idm import bandwidth
from idm.trained import TrainingDiverged

log = logging.getLogger(__name__)

# Absolute, so that the app finds its configs whether it runs as __main__ or is imported (the
# submitit launcher's jobs import it). Its own root, so --help lists the rate app's groups only.
_CONF = Path(__file__).resolve().parents[1] / "conf" / "rate"
GROUPS = ("manifold", "method", "evaluator", "sweep", "experiment")


def _store_schemas() -> None:
    """Registers RunConfig, and each evaluator's schema for its option of the evaluator group.

    The ``evaluator`` section is typed by the evaluators' base class, so that the chosen
    option's schema (``conf/rate/evaluator/NAME.yaml`` names ``/evaluator_NAME_schema``) merges
    into it; the schemas are stored outside the group, so they are not options of it.
    """
    cs = ConfigStore.instance()
    node = preflight.schema_node(RunConfig)
    node.evaluator = preflight.schema_node(EvaluatorConfig)
    cs.store(name="rate_schema", node=node)
    for name, schema in EVALUATORS.items():
        cs.store(name=f"evaluator_{name}_schema", node=preflight.schema_node(schema))


_store_schemas()


def _check_keys(cfg: DictConfig, schema: type, prefix: str = "") -> None:
    """Raises on keys the schema lacks (a ``+key=...`` override can add them past Hydra)."""
    fields = {f.name for f in dataclasses.fields(schema)}
    for key in cfg.keys():
        if key not in fields:
            raise ValueError(f"unknown config key {prefix}{key!s} (not in {schema.__name__})")
        node = cfg[key]
        # the node's own schema: for the evaluator, the chosen option's subclass
        if isinstance(node, DictConfig) and dataclasses.is_dataclass(OmegaConf.get_type(node)):
            _check_keys(node, OmegaConf.get_type(node), f"{prefix}{key}.")


def to_run_config(cfg: DictConfig) -> RunConfig:
    """The typed, frozen config (value checks in ``experiments.helpers.schemas.rate`` run here)."""
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
    """Peak bytes of the largest cell, by part.

    The evaluator's OT problems, the sampler, and (law evaluators) one call of the law's draws,
    which denoises all of them at once.
    """
    sw, itemsize = cfg.sweep, 8 if cfg.x64 else 4
    m, m_ref, n, D = sw.m, sw.reference_size, max(sw.ns), cfg.manifold.ambient_dim
    block = min(cfg.method.block_size or 256, n)
    sampler = itemsize * (n * D + 4 * m * D + 2 * m * block)
    ev = cfg.evaluator
    parts = {"sampler": float(sampler)}
    if ev.plugin.method == "exact":  # for the law evaluators too: their floor
        evaluator = _EXACT_BYTES_PER_PAIR * m * m_ref
        if ev.of_law:  # their own exact problem and the sphere bound's coarse one
            evaluator += _EXACT_BYTES_PER_PAIR * ev.exact_size**2
            # one draw call in float64: Sobol' points, noise, means and outputs (k span
            # coordinates each), and the streamed denoiser's logits blocks (m x block). Measured:
            # m_law = 2^21 on the circle at n = 32 peaked 1.8 GB above the idle process (this
            # formula: 2.0 GB); m_law = 10^8 asked for 80 GB before the check (96 GB).
            k, draws = cfg.manifold.embedding_dim, max(ev.draw_sizes.values())
            parts["law_draws"] = float(8 * draws * (8 * (k + 1) + 3 * block))
    else:  # Sinkhorn: online beyond dense_max entries, so linear in m
        evaluator = 8 * min(m * m_ref, 2**24) * 4 + 64 * (m + m_ref)
    parts["evaluator"] = float(evaluator)
    return parts


def check_run(cfg: RunConfig) -> None:
    """Checks that need more than one field (the single-field ones run in the schemas).

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
    if set(mc.names) & set(AUTO_METHODS) and sw.ns[0] < bandwidth.MIN_POINTS:
        raise preflight.InputError(
            "sweep.ns",
            f"idm_auto chooses c on a held-out split of each training set (idm.bandwidth."
            f"select_c), which needs n >= {bandwidth.MIN_POINTS}; got n = {sw.ns[0]}",
        )
    need = memory_estimate(cfg)
    total, avail = sum(need.values()) + 2**29, preflight.available_memory()
    if total <= avail:
        return
    if need.get("law_draws", 0.0) > need["evaluator"] + need["sampler"]:
        ev = cfg.evaluator
        field = max(ev.draw_sizes, key=ev.draw_sizes.get)
        raise preflight.InputError(
            f"evaluator.{field}",
            f"{getattr(ev, field)} law draws per call need about "
            f"{preflight.format_bytes(total)} but {preflight.format_bytes(avail)} are available; "
            f"about {int(getattr(ev, field) * (avail - 2**29) / total)} fit here",
        )
    msg = (
        f"m = {sw.m} (m_ref = {sw.reference_size}) needs about "
        f"{preflight.format_bytes(total)} but {preflight.format_bytes(avail)} are available"
    )
    if cfg.evaluator.plugin.method == "exact":
        # Largest m = m_ref with 24 m^2 + a m + b <= room (the sampler's bytes are a m + b).
        item, n, D = 8 if cfg.x64 else 4, max(sw.ns), mf.ambient_dim
        a = item * (4 * D + 2 * min(cfg.method.block_size or 256, n))
        room = max(avail - 2**29 - item * n * D - need.get("law_draws", 0.0), 0)
        k = _EXACT_BYTES_PER_PAIR
        fits_m = int((-a + math.sqrt(a * a + 4 * k * room)) / (2 * k))
        msg += (
            f": the exact evaluator holds an m x m_ref float64 problem; m = m_ref <= {fits_m} "
            "fits here, or use evaluator=sinkhorn (memory linear in m)"
        )
    raise preflight.InputError("sweep.m", msg)


# ----------------------------------------------------------------------------- the sweep


def _x64() -> bool:
    return bool(jax.config.jax_enable_x64)


def _progress(cfg: RunConfig, total: int):
    from tqdm.auto import tqdm

    return tqdm(total=total, disable=not (cfg.progress and sys.stderr.isatty()), unit="cell")


def environment(cfg: RunConfig) -> dict:
    """Versions, device and numerical settings, for summary.json."""
    import jaxlib
    import ot
    import ott
    import scipy

    dev = jax.devices()[0]
    return {
        "python": platform.python_version(),
        "jax": jax.__version__,
        "jaxlib": jaxlib.__version__,
        "ott": ott.__version__,
        "pot": ot.__version__,
        "scipy": scipy.__version__,
        "numpy": np.__version__,
        "backend": jax.default_backend(),
        "device": getattr(dev, "device_kind", str(dev)),
        "device_count": jax.device_count(),
        "x64": _x64(),
        "jax_default_matmul_precision": jax.config.jax_default_matmul_precision,
        "score_precision": cfg.method.precision,
    }


def run(cfg: RunConfig, out_dir: str | Path | None = None) -> list[rowlib.Row]:
    """Runs the sweep of one config and writes its outputs; returns the rows.

    Restartable: a directory that already holds this config's complete result is returned as
    it is (``skip_existing``), and the cells a killed run finished are reloaded from its
    checkpoint instead of being computed again.

    Args:
        cfg: the typed config.
        out_dir: where outputs go; None takes Hydra's run directory.

    Returns:
        One :class:`~experiments.helpers.rows.Row` per (method, n, seed).
    """
    out = Path(out_dir if out_dir is not None else HydraConfig.get().runtime.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    digest = store.config_hash(cfg)
    if cfg.skip_existing and store.is_complete(out, digest):
        log.info("results of config %s exist in %s; skipping (skip_existing=true)", digest, out)
        return rowlib.read_csv(out / "rows.csv")
    if cfg.x64 != _x64():
        log.warning("config x64=%s but jax_enable_x64=%s: running with JAX's", cfg.x64, _x64())
    t_start = time.perf_counter()
    sw = cfg.sweep
    sweep = cells.Sweep.create(cfg)
    cells_digest = store.cells_hash(cfg)
    wanted = {(n, seed) for n in sw.ns for seed in range(sw.seeds)}
    rows, nearest_rows = [], []
    if cfg.skip_existing:
        rows, nearest_rows = _checkpointed(out, cells_digest)
        resumed = {(r.n, r.seed) for r in rows}
        if resumed:
            log.info("resuming: %d cells reloaded from %s", len(resumed), out)
        shared = shared_cells(out, cells_digest, wanted - resumed)
        rows, nearest_rows = rows + shared[0], nearest_rows + shared[1]
    rows = [r for r in rows if (r.n, r.seed) in wanted]
    nearest_rows = [r for r in nearest_rows if (r.n, r.seed) in wanted]
    done = {(r.n, r.seed) for r in rows}
    with _progress(cfg, len(sw.ns) * sw.seeds) as bar:
        bar.update(len(done))
        for n in sw.ns:
            for seed in range(sw.seeds):
                if (n, seed) in done:
                    continue
                cell, cell_nearest = cells.evaluate_cell(sweep, n, seed)
                rows += cell
                nearest_rows += cell_nearest
                store.save_partial(
                    out,
                    cells_digest,
                    [r.as_dict() for r in rows],
                    [r.as_dict() for r in nearest_rows],
                )
                log.info(
                    "n=%d seed=%d floor=%.4g %s (%.1fs)",
                    n,
                    seed,
                    sweep.reference(seed).floor.value,
                    " ".join(f"{r.method}={r.w1:.4g}{'' if r.converged else '!'}" for r in cell),
                    sum(r.seconds for r in cell),
                )
                bar.update()
    rows.sort(key=lambda r: (sw.ns.index(r.n), r.seed, cfg.method.names.index(r.method)))
    nearest_rows.sort(key=lambda r: (sw.ns.index(r.n), cfg.method.names.index(r.method)))
    _write_outputs(cfg, out, digest, rows, nearest_rows, time.perf_counter() - t_start)
    store.clear_partial(out)
    return rows


def _checkpointed(job: Path, digest: str) -> tuple[list, list]:
    """The rows and nearest rows a job's checkpoint holds for cells of ``digest``."""
    saved = store.load_partial(job, digest)
    return [rowlib.Row(**r) for r in saved[0]], [rowlib.NearestRow(**r) for r in saved[1]]


def shared_cells(out: Path, digest: str, wanted: set) -> tuple[list, list]:
    """Rows and nearest rows of the ``wanted`` (n, seed) cells that jobs beside ``out`` hold.

    A job beside ``out`` (same parent directory) whose summary, or checkpoint, carries the
    same :func:`~experiments.helpers.store.cells_hash` computed those cells with the same
    settings, so its rows are this job's rows (a cell does not depend on the rest of the grid).
    """
    rows, nearest, found = [], [], set()
    parent = out.parent
    for job in sorted(p for p in parent.iterdir() if p.is_dir() and p != out):
        summary = store.job_summary(job / "summary.json")
        if summary is not None and summary.get("cells_hash") == digest:
            job_rows, job_nearest, _ = rowlib.read_job(job)
        else:
            job_rows, job_nearest = _checkpointed(job, digest)
        take = {(r.n, r.seed) for r in job_rows} & (wanted - found)
        if take:
            rows += [r for r in job_rows if (r.n, r.seed) in take]
            nearest += [r for r in job_nearest if (r.n, r.seed) in take]
            found |= take
            log.info("reusing %d cells of %s (same cells_hash %s)", len(take), job.name, digest)
    return rows, nearest


def _write_outputs(cfg: RunConfig, out: Path, digest, rows, nearest_rows, runtime_s) -> None:
    """rows.csv, nearest.csv and the figures, then summary.json last: its hash marks completion."""
    rowlib.write_csv(out / "rows.csv", rows)
    if nearest_rows:
        rowlib.write_csv(out / "nearest.csv", nearest_rows)
    table = fits.fit_table(rows, cfg.fit)
    unconverged = sum(not r.converged for r in rows)
    if unconverged:
        log.warning("%d of %d rows come from an unconverged evaluation", unconverged, len(rows))
    if cfg.figures:
        rate_figures.draw_all(rows, nearest_rows, out, table, cfg.fit)
    summary = {
        "experiment": cfg.name,
        "config_hash": digest,
        "cells_hash": store.cells_hash(cfg),
        "fits": table,
        "unconverged_rows": unconverged,
        "runtime_s": runtime_s,
        "config": dataclasses.asdict(cfg),
        "environment": environment(cfg),
    }
    store.write_json(out / "summary.json", summary)


class GatherSweep(Callback):
    """Hydra callback: after a multirun, combine the jobs' rows, summaries and figures."""

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:  # noqa: D102
        summary = collect.collect([config.hydra.sweep.dir])  # the jobs' recorded fit settings
        log.info("collected %d rows into %s", summary["rows"], config.hydra.sweep.dir)


@hydra.main(version_base="1.3", config_path=str(_CONF), config_name="config")
def main(cfg: DictConfig) -> None:
    rc = to_run_config(cfg)
    jax.config.update("jax_enable_x64", rc.x64)
    try:
        run(rc)
    except TrainingDiverged as err:  # one line naming the setting; the cell wrote no row
        preflight.fail(str(err))


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
