r"""IDM closer to the population than its own training set, certified: the d > 4 crossover.

``python -m experiments.crossover [ds=[4,5,6,8]] [ns=[...]] [cs=[...]] [seeds=3]``
(schema: ``experiments.helpers.schemas.crossover.CrossoverConfig``; config root: conf/crossover/;
outputs in ``results/crossover`` or ``hydra.run.dir=DIR``; resumable: a finished (d, n, seed)
cell is a file under ``cells/`` and is read back, not recomputed; ``collect=true`` summarises
the finished cells alone and lists the missing ones).

The paper's claim made measurable: W1(IDM, U) = O(n^(-2/(d+4))) falls faster than the training
set's own W1 ~ n^(-1/d) when d > 4, so IDM's draws sit closer to the population than the data
they were built from. Per (d, n, seed) one training set of n uniform points on S^d (in its own
d + 1 coordinates) and, against the uniform law U:

* **the training set's bracket** (:mod:`idm.w1.semidiscrete`): the semidiscrete potential g
  by ``dual_iterations`` ascent steps (``g = 0`` above ``dual_max_n``: the quantisation bound
  :math:`\mathbb{E}_U \min_i |y - x_i|`), its dual value on fresh draws minus ``z`` standard
  errors (certified up to Monte-Carlo error), and the Laguerre plan's cost plus its marginal
  correction (an upper bound in expectation; not computed without the ascent);
* **IDM's bracket** for every c (and ``c=auto``) by :func:`idm.w1.law.bracket`: the radial,
  radial-tangential and semidiscrete (the training set's g) lower bounds, the Sobolev upper
  bound (:mod:`idm.w1.sobolev`); the best of each side, named in ``idm_lower_by`` and
  ``idm_upper_by``;
* ``certified``: IDM's upper bound below the training set's lower bound, i.e.
  W1(IDM, U) < W1(train, U) with every approximation inside the bounds; ``ratio`` the ratio of
  the middles with ``ratio_lower`` and ``ratio_upper`` from the ends;
* the copy fraction of ``copy_samples`` IDM samples (``idm.memorization``) and their median
  distance to the nearest training point beside the training set's own nearest-neighbour median.

Outputs: rows.csv (one row per d, n, seed, c), tables.md (the README's two tables),
summary.json (per d, c, n the means over seeds,
the certified count, the fitted slopes of both curves against -2/(d+4) and -1/d, and per d the
certified region) and crossover.png (per d both curves with their brackets as bands and the
predicted slopes as guides, certified cells marked; below, the certified region in the (n, c)
plane).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import math
import sys
import time
from pathlib import Path

import hydra
import jax
import jax.numpy as jnp
import numpy as np
from hydra.core.config_store import ConfigStore
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from experiments.helpers import preflight, store
from experiments.helpers.schemas.crossover import CrossoverConfig
from idm import bandwidth, memorization, rates, schedule
from idm.w1 import law, semidiscrete, sobolev

log = logging.getLogger(__name__)

_CONF = Path(__file__).resolve().parents[1] / "conf" / "crossover"
# Streams of a cell's key (never reorder).
_DATA, _DUAL, _EVAL, _AUTO, _BRACKET, _COPIES = range(6)
COLUMNS = (
    "d", "n", "seed", "c", "is_auto", "sigma",
    "idm_w1", "idm_lower", "idm_upper", "idm_error", "idm_lower_by", "idm_upper_by",
    "radial_lower", "sphere_lower", "semidiscrete_lower", "sobolev_upper",
    "train_w1", "train_lower", "train_upper", "train_se", "train_lower_by", "train_upper_by",
    "ratio", "ratio_lower", "ratio_upper", "certified",
    "copy_fraction", "nn_median", "train_nn_median", "auto_decided_by",
    "idm_seconds", "train_seconds",
)  # fmt: skip
# what a cell's rows depend on (besides d, n, seed): the rest of the config only picks cells
CELL_FIELDS = (
    "cs", "seed", "m_fresh", "replicates", "sphere_cells", "n_eval", "copy_samples", "z", "x64",
)  # fmt: skip

ConfigStore.instance().store(name="crossover_schema", node=preflight.schema_node(CrossoverConfig))


def to_config(cfg: DictConfig) -> CrossoverConfig:
    """The typed, checked config."""
    return preflight.typed_config(cfg)


def uniform(d: int):
    """``(key, k) -> (k, d + 1)`` iid uniform points on S^d (traceable)."""

    def sample(key, k):
        z = jax.random.normal(key, (k, d + 1))
        return z / jnp.linalg.norm(z, axis=1, keepdims=True)

    return sample


def _radial(y) -> np.ndarray:
    return np.abs(1.0 - np.linalg.norm(y, axis=1))


def cells(cfg: CrossoverConfig) -> list[tuple[int, int, int]]:
    """Every (d, n, seed) of the run: by n, then seed, then d from the largest.

    Cheapest first; an interrupted run at the dearest n has one training set of every d first.
    """
    out = []
    for n in sorted(cfg.ns):
        for s in range(cfg.seeds):
            out += [(d, n, s) for d in sorted(cfg.ds, reverse=True)
                    if n <= cfg.max_n.get(str(d), n)]  # fmt: skip
    return out


def _auto_here(cfg: CrossoverConfig, n: int) -> bool:
    return cfg.auto and n <= cfg.auto_max_n


def _ascent_here(cfg: CrossoverConfig, n: int) -> int:
    """The ascent steps of the training set's potential at n (0: g = 0)."""
    return cfg.dual_iterations if n <= cfg.dual_max_n else 0


def cell_hash(cfg: CrossoverConfig, d: int, n: int, seed: int) -> str:
    """What one cell's rows depend on.

    :data:`CELL_FIELDS`, and c=auto and the ascent as they apply at this n (moving
    ``auto_max_n`` or ``dual_max_n`` keeps the cells it does not cross).
    """
    fields = {k: getattr(cfg, k) for k in CELL_FIELDS}
    return store.config_hash(
        dict(fields, d=d, n=n, cell_seed=seed, auto=_auto_here(cfg, n),
             dual_iterations=_ascent_here(cfg, n))
    )  # fmt: skip


def _cell_key(cfg: CrossoverConfig, d: int, n: int, seed: int):
    root = jax.random.key(cfg.seed)
    return jax.random.fold_in(jax.random.fold_in(jax.random.fold_in(root, d), n), seed)


def training_bracket(cfg: CrossoverConfig, key, x: np.ndarray) -> tuple[np.ndarray, dict]:
    """The training set's potential g and its bracket against U (``train_*`` fields)."""
    t0 = time.perf_counter()
    n, D = x.shape
    sampler = uniform(D - 1)
    ascent = _ascent_here(cfg, n) > 0
    if ascent:
        g = semidiscrete.dual_potential(
            jax.random.fold_in(key, _DUAL), x, sampler, num_iterations=_ascent_here(cfg, n)
        ).g
        g = np.asarray(g, np.float64)
    else:
        g = np.zeros(n)
    ev = semidiscrete.evaluate_potential(
        jax.random.fold_in(key, _EVAL), x, sampler, g, n_eval=cfg.n_eval, z=cfg.z, upper=ascent
    )
    return g, {
        "train_w1": ev.value,
        "train_lower": ev.lower,
        "train_upper": ev.upper if ascent else math.nan,
        "train_se": ev.diagnostics["value_se"],
        "train_lower_by": "semidiscrete dual" if ascent else "quantisation (g = 0)",
        "train_upper_by": "semidiscrete plan (in expectation)" if ascent else "",
        "train_seconds": time.perf_counter() - t0,
    }


def idm_bracket(cfg: CrossoverConfig, key, x: np.ndarray, g: np.ndarray, sigma: float) -> dict:
    """IDM's bracket against U at bandwidth sigma (``idm_*`` and the bounds' fields)."""
    t0 = time.perf_counter()
    d = x.shape[1] - 1

    def draw(k, m):
        return sobolev.draw(k, x, m, sigma)[1]

    res = law.bracket(
        jax.random.fold_in(key, _BRACKET), draw, lambda k, m: np.asarray(uniform(d)(k, m)),
        distance=_radial, sphere=d if cfg.sphere_cells else 0, cells=max(cfg.sphere_cells, 1),
        m_fresh=cfg.m_fresh, replicates=cfg.replicates, exact="never", rtol=0.0, z=cfg.z,
        sobolev=(x, sigma), semidiscrete=(x, g),
    )  # fmt: skip
    p = res.diagnostics["parts"]
    return {
        "idm_w1": res.value,
        "idm_lower": res.lower,
        "idm_upper": res.upper,
        "idm_error": res.error,
        "idm_lower_by": res.lower_by,
        "idm_upper_by": res.upper_by,
        "radial_lower": p.get("radial_lower", math.nan),
        "sphere_lower": p.get("sphere_lower", math.nan),
        "semidiscrete_lower": p.get("semidiscrete_lower", math.nan),
        "sobolev_upper": p.get("sobolev_upper", math.nan),
        "idm_seconds": time.perf_counter() - t0,
    }


def run_cell(cfg: CrossoverConfig, d: int, n: int, seed: int) -> list[dict]:
    """The rows of one training set: the training set's bracket, then IDM's at every c."""
    key = _cell_key(cfg, d, n, seed)
    x = np.asarray(uniform(d)(jax.random.fold_in(key, _DATA), n), np.float64)
    g, train = training_bracket(cfg, key, x)
    index = memorization.TrainingIndex(x)
    train_nn = float(np.median(index.index.knn(x, 2).distances[:, 1]))
    cs: list[tuple[float, bool, str]] = [(float(c), False, "") for c in cfg.cs]
    if _auto_here(cfg, n):
        sel = bandwidth.select_c(jax.random.fold_in(key, _AUTO), x, d, scale=1.0)
        cs.append((float(sel.c), True, str(sel.decided_by)))
    rows = []
    for c, is_auto, decided in cs:
        sigma = float(schedule.bandwidth(n, d, c))
        row = {"d": d, "n": n, "seed": seed, "c": c, "is_auto": is_auto, "sigma": sigma}
        row.update(idm_bracket(cfg, key, x, g, sigma))
        row.update(train)
        samples = sobolev.draw(jax.random.fold_in(key, _COPIES), x, cfg.copy_samples, sigma)[1]
        nearest = index.nearest(samples)
        row.update(
            ratio=row["idm_w1"] / row["train_w1"],
            ratio_lower=row["idm_lower"] / row["train_upper"],
            ratio_upper=row["idm_upper"] / row["train_lower"],
            certified=bool(row["idm_upper"] < row["train_lower"]),
            copy_fraction=float(np.mean(index.is_copy(nearest))),
            nn_median=float(np.median(nearest[:, 0])),
            train_nn_median=train_nn,
            auto_decided_by=decided,
        )
        rows.append({k: row[k] for k in COLUMNS})
    return rows


def _cell_path(out: Path, d: int, n: int, seed: int) -> Path:
    return out / "cells" / f"d{d}_n{n}_s{seed}.json"


def load_cell(cfg: CrossoverConfig, out: Path, d: int, n: int, seed: int) -> list[dict] | None:
    """A finished cell's rows when its file carries this config's cell hash, else None."""
    path = _cell_path(out, d, n, seed)
    if not path.exists():
        return None
    saved = json.loads(path.read_text())
    if saved.get("cell_hash") != cell_hash(cfg, d, n, seed):
        return None
    return [{k: store.nan_if_none(v) for k, v in r.items()} for r in saved["rows"]]


# ----------------------------------------------------------------------------- the summary


def _mean_se(v) -> tuple[float, float]:
    """Mean and standard error over seeds of the finite values (a bound not computed is NaN)."""
    return rates.mean_se([x for x in v if math.isfinite(x)])


def _label(row) -> str:
    return "auto" if row["is_auto"] else f"{row['c']:g}"


_MEANS = (
    "c", "idm_w1", "idm_lower", "idm_upper", "train_w1", "train_lower", "train_upper",
    "ratio", "ratio_upper", "copy_fraction", "nn_median",
)  # fmt: skip
FIT_RULE = "half-width of the mean bracket < 0.1 of its middle"


def _slope(ns, mids, halves) -> dict:
    """Least-squares slope of log(mid) on log(n) over the points passing :data:`FIT_RULE`."""
    keep = [i for i in range(len(ns)) if math.isfinite(mids[i]) and halves[i] < 0.1 * mids[i]]
    if len(keep) < 2:
        return {"exponent": None, "ns_used": [ns[i] for i in keep]}
    lx, ly = np.log([ns[i] for i in keep]), np.log([mids[i] for i in keep])
    slope = float(np.polyfit(lx, ly, 1)[0])
    return {"exponent": slope, "ns_used": [int(ns[i]) for i in keep]}


def summarise(cfg: CrossoverConfig, rows: list[dict]) -> dict:
    """Per (d, c, n) means over seeds, the certified counts, slopes and certified regions."""
    groups: dict = {}
    for r in rows:
        groups.setdefault((r["d"], _label(r), r["n"]), []).append(r)
    table = []
    for (d, label, n), rs in sorted(groups.items()):
        entry = {"d": d, "c": label, "n": n, "seeds": len(rs)}
        for col in _MEANS:
            mean, se = _mean_se([float(r[col]) for r in rs])
            entry["c_value" if col == "c" else col] = mean
            if col in ("idm_w1", "train_w1", "ratio", "copy_fraction"):
                entry[col + "_se"] = se
        entry["idm_rel_error"] = float(np.mean([r["idm_error"] / r["idm_w1"] for r in rs]))
        entry["certified"] = int(sum(bool(r["certified"]) for r in rs))
        entry["idm_lower_by"] = sorted({r["idm_lower_by"] for r in rs})
        entry["idm_upper_by"] = sorted({r["idm_upper_by"] for r in rs})
        table.append(entry)
    fits, region = [], []
    for d in cfg.ds:
        for label in sorted({e["c"] for e in table if e["d"] == d}):
            es = sorted((e for e in table if e["d"] == d and e["c"] == label), key=lambda e: e["n"])
            ns = [e["n"] for e in es]
            idm_fit = _slope(ns, [(e["idm_lower"] + e["idm_upper"]) / 2 for e in es],
                             [(e["idm_upper"] - e["idm_lower"]) / 2 for e in es])  # fmt: skip
            predicted = rates.reference_exponent("idm", d)
            fits.append({"d": d, "c": label, "method": "idm", "predicted": predicted, **idm_fit})
            region.append({
                "d": d, "c": label,
                "certified_ns": [e["n"] for e in es if e["certified"] == e["seeds"]],
                "partly_ns": [e["n"] for e in es if 0 < e["certified"] < e["seeds"]],
            })  # fmt: skip
        es = sorted((e for e in table if e["d"] == d and e["c"] == f"{cfg.cs[0]:g}"),
                    key=lambda e: e["n"])  # fmt: skip
        # the training set: its lower end (the certified side; its upper end only to dual_max_n)
        train_fit = _slope([e["n"] for e in es], [e["train_lower"] for e in es], [0.0] * len(es))
        fits.append({"d": d, "c": "", "method": "train (lower end)", "predicted": -1 / d,
                     **train_fit})  # fmt: skip
    return {
        "table": table,
        "fits": fits,
        "fit_rule": FIT_RULE + " (idm); the training set's lower end (no upper end above "
        f"n = {cfg.dual_max_n})",
        "certified_region": region,
        "rows": len(rows),
        "certified_rows": int(sum(bool(r["certified"]) for r in rows)),
    }


def _n_label(n: int) -> str:
    """10^3, 3*10^4: the README's way of printing a size."""
    e = int(math.floor(math.log10(n)))
    m = n / 10**e
    return f"10^{e}" if m == 1 else f"{m:g}*10^{e}"


def certified_labels(entries: list[dict]) -> str:
    """The c labels certified in every seed, or "none"; "(k seeds)" when fewer than planned."""
    labels = [e["c"] for e in entries if e["certified"] == e["seeds"] and e["seeds"] > 0]
    return ", ".join(labels) if labels else "none"


def markdown(cfg: CrossoverConfig, summary: dict) -> str:
    """The README's two tables: the certified c per (d, n), and d = 6 at c = 0.7 in numbers."""
    table = summary["table"]
    ns = sorted({e["n"] for e in table})
    lines = ["| d | " + " | ".join(f"n = {_n_label(n)}" for n in ns) + " |",
             "|---|" + "---|" * len(ns)]  # fmt: skip
    for d in cfg.ds:
        cells = []
        for n in ns:
            es = [e for e in table if e["d"] == d and e["n"] == n]
            if not es:
                cells.append("not run")
                continue
            seeds = max(e["seeds"] for e in es)
            note = "" if seeds == cfg.seeds else f" ({seeds} of {cfg.seeds} seeds)"
            cells.append(certified_labels(es) + note)
        lines.append(f"| {d} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "| d | c | n | IDM's W1 [lower, upper] | training set's [lower, upper] | "
        "IDM upper / training lower | IDM's copies |",
        "|---|---|---|---|---|---|---|",
    ]
    for e in table:
        if e["c"] == "0.7":
            tu = e["train_upper"]  # NaN, or None once read back from JSON: not computed
            up = "" if tu is None or not math.isfinite(tu) else f"{tu:.3f}"
            lines.append(
                f"| {e['d']} | 0.7 | {_n_label(e['n'])} | "
                f"[{e['idm_lower']:.3f}, {e['idm_upper']:.3f}] | "
                f"[{e['train_lower']:.3f}, {up or '-'}] | {e['ratio_upper']:.2f} | "
                f"{e['copy_fraction']:.3f} |"
            )
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- the figure


def figure(cfg: CrossoverConfig, summary: dict, path: Path) -> None:
    """Per d: both W1 curves with their brackets and the slope guides; the certified region."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ds = [d for d in cfg.ds if any(e["d"] == d for e in summary["table"])]
    fig, axes = plt.subplots(2, len(ds), figsize=(4.2 * len(ds), 8.2), squeeze=False)
    labels = [f"{c:g}" for c in cfg.cs] + (["auto"] if cfg.auto else [])
    colours = plt.get_cmap("viridis")(np.linspace(0.05, 0.9, len(labels)))
    for j, d in enumerate(ds):
        ax = axes[0, j]
        first = None
        for label, colour in zip(labels, colours, strict=True):
            es = sorted((e for e in summary["table"] if e["d"] == d and e["c"] == label),
                        key=lambda e: e["n"])  # fmt: skip
            if not es:
                continue
            ns = np.array([e["n"] for e in es], float)
            lo, up = np.array([e["idm_lower"] for e in es]), np.array([e["idm_upper"] for e in es])
            ax.fill_between(ns, lo, up, color=colour, alpha=0.3, lw=0)
            ax.plot(ns, (lo + up) / 2, "-", color=colour, lw=1.2, label=f"IDM c={label}")
            cert = np.array([e["certified"] == e["seeds"] for e in es])
            ax.plot(ns[cert], up[cert], "v", color=colour, ms=5)
            if first is None:
                first = es
        ns = np.array([e["n"] for e in first], float)
        tl = np.array([e["train_lower"] for e in first])
        tu = np.array([e["train_upper"] for e in first])
        ax.plot(ns, tl, "k-", lw=1.6, label="training set (lower end)")
        ok = np.isfinite(tu)
        ax.fill_between(ns[ok], tl[ok], tu[ok], color="k", alpha=0.15, lw=0,
                        label="training set's bracket (upper end in expectation)")  # fmt: skip
        for slope, style, name in ((-2 / (d + 4), ":", "-2/(d+4)"), (-1 / d, "--", "-1/d")):
            ax.plot(ns, tl[0] * 0.6 * (ns / ns[0]) ** slope, style, color="grey", lw=1,
                    label=f"slope {name}")  # fmt: skip
        ax.set(xscale="log", yscale="log", xlabel="n", title=f"S^{d}: W1 to the population")
        if j == 0:
            ax.set_ylabel("W1 (bands: certified brackets)")
        ax = axes[1, j]
        n_all = sorted({e["n"] for e in summary["table"] if e["d"] == d})
        grid_labels = [f"{c:g}" for c in cfg.cs]
        img = np.full((len(grid_labels), len(n_all)), np.nan)
        for e in summary["table"]:
            if e["d"] == d and e["c"] in grid_labels:
                img[grid_labels.index(e["c"]), n_all.index(e["n"])] = e["certified"] / e["seeds"]
        ax.imshow(img, origin="lower", cmap="Greens", vmin=0, vmax=1, aspect="auto")
        ax.set_xticks(range(len(n_all)), [f"{n:g}" for n in n_all], fontsize=7)
        ax.set_yticks(range(len(grid_labels)), grid_labels)
        for e in summary["table"]:
            if e["d"] == d and e["c"] == "auto":
                levels = [float(c) for c in grid_labels]
                y = np.interp(e["c_value"], levels, range(len(levels)))
                fill = "w" if e["certified"] < e["seeds"] else "k"
                ax.plot(n_all.index(e["n"]), y, "o", mfc=fill, mec="k", ms=6)
        ax.set(xlabel="n", title=f"S^{d}: where IDM is certified closer")
        if j == 0:
            ax.set_ylabel("c")
    handles, names = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, names, loc="lower center", ncol=5, fontsize=8, frameon=False)
    fig.text(0.5, 0.075, "lower panels: green where IDM's upper end is below the training set's "
             "lower end in every seed run; dots: c=auto (filled: certified)", ha="center",
             fontsize=8)  # fmt: skip
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ----------------------------------------------------------------------------- the run


def _write_rows(path: Path, rows: list[dict]) -> None:
    import io

    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if isinstance(v, float) and not math.isfinite(v) else v)
                    for k, v in r.items()})  # fmt: skip
    store.atomic_write_text(path, buf.getvalue())


def _progress(cfg, total):
    from tqdm.auto import tqdm

    return tqdm(total=total, disable=not (cfg.progress and sys.stderr.isatty()), unit="cell")


def run(cfg: CrossoverConfig, out_dir: str | Path | None = None) -> dict:
    """Runs (or reads back) every cell, writes rows.csv, summary.json and the figure."""
    t0 = time.perf_counter()
    out = Path(out_dir if out_dir is not None else HydraConfig.get().runtime.output_dir)
    rows, resumed, missing = [], 0, []
    todo = cells(cfg)
    with _progress(cfg, len(todo)) as bar:
        for d, n, seed in todo:
            got = load_cell(cfg, out, d, n, seed)
            if got is None and cfg.collect:
                missing.append({"d": d, "n": n, "seed": seed})
                continue
            if got is None:
                t = time.perf_counter()
                got = run_cell(cfg, d, n, seed)
                store.write_json(_cell_path(out, d, n, seed),
                                 {"cell_hash": cell_hash(cfg, d, n, seed), "rows": got,
                                  "seconds": time.perf_counter() - t})  # fmt: skip
                log.info(
                    "d=%d n=%d seed=%d: %d of %d c certified (%.0f s)",
                    d,
                    n,
                    seed,
                    sum(r["certified"] for r in got),
                    len(got),
                    time.perf_counter() - t,
                )
            else:
                resumed += 1
            rows += got
            bar.update()
    summary = summarise(cfg, rows)
    summary.update(
        config=dataclasses.asdict(cfg), runtime_s=time.perf_counter() - t0, resumed_cells=resumed,
        missing_cells=missing,
        environment={"jax": jax.__version__, "backend": jax.default_backend(),
                     "x64": bool(jax.config.jax_enable_x64)},
    )  # fmt: skip
    _write_rows(out / "rows.csv", rows)
    store.atomic_write_text(out / "tables.md", markdown(cfg, summary))
    if cfg.figures:
        figure(cfg, summary, out / "crossover.png")
        summary["figures"] = ["crossover.png"]
    store.write_json(out / "summary.json", summary)
    return summary


@hydra.main(version_base="1.3", config_path=str(_CONF), config_name="crossover")
def main(cfg: DictConfig) -> None:
    rc = to_config(cfg)
    jax.config.update("jax_enable_x64", rc.x64)
    run(rc)


if __name__ == "__main__":
    from experiments.crossover import _CONF, main, to_config

    preflight.guard(
        sys.argv[1:], conf_dir=_CONF, config_name="crossover", to_config=to_config, groups=()
    )
    main()
