"""Figures and fitted-rate tables drawn only from saved results (no sampling, no JAX calls).

``python -m experiments.plots DIR [--out OUT]`` redraws everything from ``DIR/rows.csv`` or, for
a multirun sweep directory, merges its jobs first (``experiments.collect``):

* ``rate.png``: log-log W1 against n per (manifold, d, D), every method (mean over seeds,
  bars from min to max), the fitted lines over the n actually used, the predicted slope
  -2/(d+4) drawn through the IDM points, IDM's radial shrinkage E[1 - |x|] (a lower bound on
  its W1) beside the leading term d/2 sigma^2, and the evaluation floor shaded.
* ``d_independence.png`` (when the rows hold several D at one n): W1 against D.
* ``memorization.png`` (from ``nearest.csv``): histograms of the distance from each sample to
  its nearest training point, dm against idm.
"""

from __future__ import annotations

import argparse
import csv
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from experiments import store  # noqa: E402
from idm.rates import fit_rate, local_slopes, predicted_exponent  # noqa: E402

__all__ = [
    "ROW_COLUMNS",
    "NEAREST_COLUMNS",
    "read_csv",
    "write_csv",
    "fit_table",
    "rate_figure",
    "d_independence_figure",
    "memorization_figure",
    "draw_all",
]

ROW_COLUMNS = (
    "experiment",
    "manifold",
    "d",
    "D",
    "n",
    "seed",
    "method",
    "c",
    "sigma",
    "m",
    "m_ref",
    "evaluator",
    "reference",
    "w1",
    "w1_lower",
    "w1_upper",
    "epsilon",
    "w1_floor",
    "converged",
    "n_iters",
    "copy_fraction",
    "nn_median",
    "manifold_distance",
    "radial_shrinkage",
    "predicted_shrinkage",
    "sample_s",
    "eval_s",
    "seconds",
)
NEAREST_COLUMNS = ("manifold", "d", "D", "method", "n", "seed", "nn1", "nn2")
_INTS = {"d", "D", "n", "seed", "m", "m_ref", "n_iters"}
_STRS = {"experiment", "manifold", "method", "evaluator", "reference"}
_BOOLS = {"converged"}
_ZERO = 1e-12
METHOD_ORDER = ("idm", "train", "dm", "early_stop", "kde", "cfdm")
COLORS = {"idm": "C0", "train": "C1", "dm": "C2", "early_stop": "C3", "kde": "C4", "cfdm": "C5"}
MARKERS = {"idm": "o", "train": "s", "dm": "^", "early_stop": "v", "kde": "D", "cfdm": "P"}


def _parse(key: str, value: str):
    if key in _STRS:
        return value
    if key in _BOOLS:
        return value == "True"
    if value in ("", "nan", "None"):
        return math.nan
    return int(value) if key in _INTS else float(value)


def read_csv(path: str | Path) -> list[dict]:
    """Rows of a rows.csv or nearest.csv, with numbers and flags parsed."""
    with open(path, newline="") as f:
        return [{k: _parse(k, v) for k, v in row.items()} for row in csv.DictReader(f)]


def write_csv(path: str | Path, rows: Iterable[dict], columns: Sequence[str]) -> None:
    """Writes rows with the given columns, atomically; floats keep full precision (repr)."""
    with store.atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _format(row.get(k)) for k in columns})


def _format(v):
    if v is None:
        return ""
    if isinstance(v, float):
        return "" if math.isnan(v) else repr(v)
    return v


def _group_key(row: dict) -> tuple:
    return (row["manifold"], int(row["d"]), int(row["D"]))


def _label(key: tuple) -> str:
    manifold, d, D = key
    return f"{manifold} (d={d}, D={D})"


def reference_exponent(method: str, d: int) -> float | None:
    """The exponent each method is compared with.

    idm: -2/(d+4) (the paper's rate); train and dm (copies of training points): the empirical
    measure's -1/max(d, 2) (d = 2 up to a log factor); early_stop and kde: None (their error is
    ambient noise of size sigma sqrt(D), not a rate in n alone).
    """
    method = method.split()[0]  # a label "idm c=0.5" compares like "idm"
    if method == "idm":
        return predicted_exponent(d)
    if method in ("train", "dm"):
        return -1.0 / max(d, 2)
    return None


def labelled(rows: list[dict]) -> list[dict]:
    """Rows whose ``method`` reads "idm c=0.5" where one (manifold, d, D) has several c.

    A multirun over ``method.c`` puts rows of the same method with different bandwidth
    constants in one table; fits and figures must keep them apart. Rows without a ``c``
    (methods that do not use sigma, or files from before the column existed) are unchanged.
    """
    cs = defaultdict(set)
    for r in rows:
        c = r.get("c")
        if isinstance(c, float) and math.isfinite(c):
            cs[(*_group_key(r), r["method"])].add(c)
    out = []
    for r in rows:
        if len(cs.get((*_group_key(r), r["method"]), ())) > 1:
            r = {**r, "method": f"{r['method']} c={r['c']:g}"}
        out.append(r)
    return out


def _color(label: str) -> str:
    base, _, c = label.partition(" c=")
    if c and float(c) != 1.0:
        return {"idm": "C9", "kde": "C6", "early_stop": "C8", "cfdm": "C7"}.get(base, "k")
    return COLORS.get(base, "k")


def _marker(label: str) -> str:
    return MARKERS.get(label.split()[0], "o")


def _ordered(methods: Iterable[str]) -> list[str]:
    methods = set(methods)
    return [m for m in METHOD_ORDER if m in methods] + sorted(methods - set(METHOD_ORDER))


def _matrix(rows: list[dict], key: str):
    """Pivots rows of one method to ns (k,), values (k, s) over the seeds present at every n.

    Returns ns, values, floors, and the n dropped for a missing, non-finite or unconverged
    entry.
    """
    cells = defaultdict(dict)
    for r in rows:
        cells[int(r["n"])][int(r["seed"])] = r
    seeds = sorted(set.intersection(*(set(c) for c in cells.values())))
    ns, vals, floors, bad = [], [], [], []
    for n in sorted(cells):
        cell = [cells[n][s] for s in seeds]
        v = np.array([c[key] for c in cell], float)
        f = np.array([c["w1_floor"] for c in cell], float)
        if not (np.all(np.isfinite(v)) and np.all(v > 0) and all(c["converged"] for c in cell)):
            bad.append(n)
            continue
        ns.append(n)
        vals.append(v)
        floors.append(f)
    return np.array(ns), np.array(vals), np.array(floors), bad


def fit_table(rows: list[dict], *, floor_factor: float = 2.0, n_boot: int = 2000) -> list[dict]:
    """Fitted W1 exponents per (manifold, d, D, method), JSON-ready.

    Each entry: manifold, d, D, method, predicted_exponent (-2/(d+4)), reference_exponent (see
    :func:`reference_exponent`), exponent, ci, se, interval, ns_used, n_range, dropped (within
    ``floor_factor`` of the floor), dropped_invalid (missing, non-finite or unconverged), and
    local_slopes (lower and upper half of the used n range), or ``error`` when no fit exists.
    """
    groups = defaultdict(list)
    for r in labelled(rows):
        groups[(*_group_key(r), r["method"])].append(r)
    table = []
    for (manifold, d, D, method), grp in sorted(
        groups.items(), key=lambda kv: (kv[0][:3], _ordered([kv[0][3]]))
    ):
        ns, vals, floors, bad = _matrix(grp, "w1")
        entry = {
            "manifold": manifold,
            "d": d,
            "D": D,
            "method": method,
            "predicted_exponent": predicted_exponent(d),
            "reference_exponent": reference_exponent(method, d),
            "n_seeds": int(vals.shape[1]) if vals.ndim == 2 else 0,
            "dropped_invalid": bad,
        }
        kw = {"floors": floors, "floor_factor": floor_factor}
        try:
            fit = fit_rate(ns, vals, n_boot=n_boot, **kw)
        except ValueError as e:
            entry["error"] = str(e)
            table.append(entry)
            continue
        entry.update(
            exponent=fit.exponent,
            intercept=fit.intercept,
            ci=list(fit.ci),
            se=fit.se,
            interval=fit.interval,
            ns_used=list(fit.ns_used),
            n_range=[fit.ns_used[0], fit.ns_used[-1]],
            dropped=list(fit.dropped),
        )
        if len(fit.ns_used) >= 3:
            entry["local_slopes"] = _halves(local_slopes(ns, vals, n_boot=n_boot, **kw))
        if method.split()[0] in BIAS_METHODS:
            bias = _distance_fit(grp, n_boot)
            if bias is not None:
                entry["distance_to_manifold"] = bias
        table.append(entry)
    return table


# Methods whose samples leave the manifold by a bandwidth-driven bias (IDM's O(sigma^2) pull
# toward the local mean); their mean distance to the manifold gets its own fit.
BIAS_METHODS = ("idm",)


def _halves(ls) -> dict:
    return {
        half: {"exponent": f.exponent, "ci": list(f.ci), "ns_used": list(f.ns_used)}
        for half, f in (("lower", ls.lower), ("upper", ls.upper))
    }


def _distance_fit(grp: list[dict], n_boot: int) -> dict | None:
    """Exponent and half-range local slopes of the mean distance to the manifold.

    Every coupling of the samples' law with the population moves each sample at least to the
    manifold, so this is a lower bound on W1(law, population) with no evaluation floor (a
    Monte-Carlo mean over m samples); for IDM it is the O(sigma^2) bias term that sets the
    predicted rate. None when a row lacks it or it is not positive.
    """
    ns, vals, _, bad = _matrix(grp, "manifold_distance")
    if bad or len(ns) < 3:
        return None
    fit = fit_rate(ns, vals, n_boot=n_boot)
    return {
        "exponent": fit.exponent,
        "ci": list(fit.ci),
        "ns_used": list(fit.ns_used),
        "local_slopes": _halves(local_slopes(ns, vals, n_boot=n_boot)),
    }


def _save(fig, path: str | Path) -> None:
    """Lays out, writes (atomically) and closes a figure (every figure here ends this way)."""
    fig.tight_layout()
    with store.atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=130, format=Path(path).suffix.lstrip("."))
    plt.close(fig)


def _panels(n: int):
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 4.2 * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, axes.flat


def _mean_band(grp: list[dict], key: str, x: str = "n"):
    by_x = defaultdict(list)
    for r in grp:
        by_x[r[x]].append(r[key])
    xs = np.array(sorted(by_x), float)
    v = [np.array(by_x[k], float) for k in sorted(by_x)]
    return (
        xs,
        np.array([a.mean() for a in v]),
        np.array([a.min() for a in v]),
        np.array([a.max() for a in v]),
    )


def rate_figure(rows: list[dict], fits: list[dict], path: str | Path, *, floor_factor=2.0):
    """Log-log W1 against n, one panel per (manifold, d, D); see the module docstring."""
    groups = defaultdict(list)
    for r in rows:
        groups[_group_key(r)].append(r)
    fit_of = {(f["manifold"], f["d"], f["D"], f["method"]): f for f in fits}
    fig, axes = _panels(len(groups))
    for ax, key in zip(axes, sorted(groups), strict=False):
        grp = groups[key]
        d = key[1]
        ns, floor, _, _ = _mean_band(grp, "w1_floor")
        ax.fill_between(ns, 0, floor, color="0.85", label="evaluation floor (mean)", lw=0)
        ax.plot(
            ns, floor_factor * floor, color="0.6", ls=":", lw=1, label=f"{floor_factor:g}x floor"
        )
        for method in _ordered(r["method"] for r in grp):
            mg = [r for r in grp if r["method"] == method]
            x, mean, lo, hi = _mean_band(mg, "w1")
            c = _color(method)
            f = fit_of.get((*key, method), {})
            used = set(f.get("ns_used", []))
            filled = np.array([n in used for n in x])
            ax.errorbar(x, mean, yerr=[mean - lo, hi - mean], fmt="none", ecolor=c, alpha=0.6)
            ax.plot(x[filled], mean[filled], _marker(method), color=c)
            ax.plot(x[~filled], mean[~filled], _marker(method), mfc="none", color=c)
            label = method
            if "exponent" in f:
                lo_ci, hi_ci = f["ci"]
                label += f": {f['exponent']:.3f} [{lo_ci:.3f}, {hi_ci:.3f}]"
                xu = np.array(sorted(used), float)
                ax.plot(xu, np.exp(f["intercept"]) * xu ** f["exponent"], "-", color=c, lw=1)
            ax.plot([], [], "-" + _marker(method), color=c, label=label)
            if method.split()[0] == "idm":
                xs, shrink, _, _ = _mean_band(mg, "radial_shrinkage")
                if np.all(np.isfinite(shrink)):
                    ax.plot(xs, shrink, ".--", color=c, lw=0.8, label="idm E[1-|x|]")
                    ax.plot(
                        xs,
                        d / 2 * np.array([_sigma2(mg, n) for n in xs]),
                        ":",
                        color="k",
                        lw=0.8,
                        label="d/2 sigma^2",
                    )
                pts = mean[filled] if filled.any() else mean
                xp = x[filled] if filled.any() else x
                slope = predicted_exponent(d)
                anchor = np.exp(np.mean(np.log(pts)) - slope * np.mean(np.log(xp)))
                ax.plot(
                    x,
                    anchor * x**slope,
                    "--",
                    color="k",
                    lw=1,
                    label=f"predicted slope {slope:.3f}",
                )
        ax.set(
            xscale="log", yscale="log", xlabel="n (training points)", ylabel="W1", title=_label(key)
        )
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())  # no overlapping labels
        ax.legend(fontsize=7)
    _save(fig, path)


def _sigma2(rows: list[dict], n: float) -> float:
    """sigma^2 recorded in the rows at this n."""
    return float(next(r["sigma"] for r in rows if r["n"] == n)) ** 2


def d_independence_figure(rows: list[dict], path: str | Path) -> bool:
    """W1 against D (log-log) per (manifold, d, n) having several D; False if none does."""
    groups = defaultdict(list)
    for r in rows:
        groups[(r["manifold"], int(r["d"]), int(r["n"]))].append(r)
    groups = {k: g for k, g in groups.items() if len({r["D"] for r in g}) >= 2}
    if not groups:
        return False
    fig, axes = _panels(len(groups))
    for ax, key in zip(axes, sorted(groups), strict=False):
        grp = groups[key]
        Ds, floor, _, _ = _mean_band(grp, "w1_floor", x="D")
        ax.fill_between(Ds, 0, floor, color="0.85", lw=0, label="evaluation floor (mean)")
        for method in _ordered(r["method"] for r in grp):
            x, mean, lo, hi = _mean_band([r for r in grp if r["method"] == method], "w1", x="D")
            c = _color(method)
            ax.errorbar(
                x,
                mean,
                yerr=[mean - lo, hi - mean],
                fmt="-" + _marker(method),
                color=c,
                label=f"{method} (D={x[0]:g}: {mean[0]:.3g}, D={x[-1]:g}: {mean[-1]:.3g})",
            )
        ax.set(
            xscale="log",
            yscale="log",
            xlabel="ambient dimension D",
            ylabel="W1",
            title=f"{key[0]} (d={key[1]}), n={key[2]}",
        )
        ax.legend(fontsize=7)
    _save(fig, path)
    return True


def memorization_figure(nearest: list[dict], rows: list[dict], path: str | Path) -> bool:
    """Histograms of nearest-training distances, dm against idm, per (manifold, d, D).

    Uses the largest n with samples of both; titles carry the copy fractions from the rows.
    False when nothing to draw.
    """
    groups = defaultdict(list)
    for r in nearest:
        groups[_group_key(r)].append(r)
    panels = {}
    for key, grp in groups.items():
        methods = {r["method"] for r in grp}
        ns = [
            n for n in {r["n"] for r in grp} if {r["method"] for r in grp if r["n"] == n} == methods
        ]
        if ns:
            panels[key] = (max(ns), grp)
    if not panels:
        return False
    fig, axes = _panels(len(panels))
    for ax, key in zip(axes, sorted(panels), strict=False):
        n, grp = panels[key]
        vals = {
            m: np.array([r["nn1"] for r in grp if r["method"] == m and r["n"] == n], float)
            for m in _ordered(r["method"] for r in grp)
        }
        # Exact copies (distance 0, or below float64 resolution) are drawn at _ZERO.
        top = max(max(float(v.max()) for v in vals.values()), _ZERO * 10)
        bins = np.logspace(np.log10(_ZERO) - 0.25, np.log10(top) + 0.25, 60)
        for method, v in vals.items():
            cf = [
                r["copy_fraction"]
                for r in rows
                if _group_key(r) == key and r["method"] == method and r["n"] == n
            ]
            note = f", copy fraction {np.mean(cf):.2f}" if cf else ""
            ax.hist(
                np.clip(v, _ZERO, None),
                bins=bins,
                alpha=0.6,
                color=COLORS.get(method),
                label=f"{method}{note}",
            )
        ax.set(
            xscale="log",
            xlabel=f"distance to nearest training point (below {_ZERO:g} drawn at {_ZERO:g})",
            ylabel="samples",
            title=f"{_label(key)}, n={n}",
        )
        ax.legend(fontsize=7)
    _save(fig, path)
    return True


def crossover(rows: list[dict]) -> list[dict]:
    """Where IDM's mean W1 is below the training set's, per (manifold, d, D) and IDM label.

    Only for the semidiscrete evaluator, where the training set's W1 is exact (no floor on the
    population side) and, by convexity of W1 (Jensen), the m-sample W1 of IDM is biased up:
    IDM below the training set at an n means IDM's law is closer to the population than the
    training set is (up to the standard errors). JSON-ready.
    """
    rows = [r for r in labelled(rows) if r.get("evaluator") == "semidiscrete"]
    out = []
    groups = defaultdict(list)
    for r in rows:
        groups[_group_key(r)].append(r)
    for key, grp in sorted(groups.items()):
        train = {
            n: m
            for n, m, _, _ in zip(
                *_mean_band([r for r in grp if r["method"] == "train"], "w1"), strict=True
            )
        }
        for label in _ordered({r["method"] for r in grp} - {"train"}):
            if label.split()[0] != "idm" or not train:
                continue
            ns, mean, _, _ = _mean_band([r for r in grp if r["method"] == label], "w1")
            below = [int(n) for n, v in zip(ns, mean, strict=True) if n in train and v < train[n]]
            out.append(
                {
                    "manifold": key[0],
                    "d": key[1],
                    "D": key[2],
                    "method": label,
                    "ns": [int(n) for n in ns],
                    "w1": mean.tolist(),
                    "w1_train": [train.get(n, math.nan) for n in ns],
                    "n_where_idm_below_train": below,
                }
            )
    return out


def crossover_figure(rows: list[dict], path: str | Path) -> bool:
    """W1 of IDM (each c) and of the training set against n, semidiscrete evaluator only.

    Beside them: the floor of an m-point population sample (what any m samples pay; the
    training set's n points pay their own), and IDM's radial shrinkage E[1 - |x|], a floor-free
    lower bound on IDM's W1. False when there is nothing to draw.
    """
    rows = [r for r in labelled(rows) if r.get("evaluator") == "semidiscrete"]
    groups = defaultdict(list)
    for r in rows:
        groups[_group_key(r)].append(r)
    groups = {k: g for k, g in groups.items() if any(r["method"] == "train" for r in g)}
    if not groups:
        return False
    fig, axes = _panels(len(groups))
    for ax, key in zip(axes, sorted(groups), strict=False):
        grp = groups[key]
        for label in _ordered({r["method"] for r in grp}):
            mg = [r for r in grp if r["method"] == label]
            x, mean, lo, hi = _mean_band(mg, "w1")
            ax.errorbar(
                x,
                mean,
                yerr=[mean - lo, hi - mean],
                fmt="-" + _marker(label),
                color=_color(label),
                label=f"{label} W1 (m = {mg[0]['m'] if label != 'train' else 'n'})",
            )
            if label.split()[0] == "idm":
                xs, shrink, _, _ = _mean_band(mg, "radial_shrinkage")
                if np.all(np.isfinite(shrink)):
                    ax.plot(
                        xs,
                        shrink,
                        ":",
                        color=_color(label),
                        label=f"{label} E[1-|x|] (lower bound)",
                    )
        idm_m = {r["m"] for r in grp if r["method"] != "train"}
        floor = np.mean([r["w1_floor"] for r in grp])
        ax.axhline(
            floor,
            color="0.5",
            lw=6,
            alpha=0.3,
            label=f"floor of {max(idm_m, default=0)} population points",
        )
        ax.set(
            xscale="log",
            yscale="log",
            xlabel="n (training points)",
            ylabel="W1 to the population (semidiscrete)",
            title=_label(key),
        )
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.legend(fontsize=7)
    _save(fig, path)
    return True


def draw_all(rows, nearest, out: str | Path, *, fits=None, floor_factor=2.0) -> list[str]:
    """Draws every figure the rows support into ``out``; returns the file names written."""
    out = Path(out)
    fits = fit_table(rows, floor_factor=floor_factor) if fits is None else fits
    rows = labelled(rows)
    written = []
    if len({r["n"] for r in rows}) >= 2:
        rate_figure(rows, fits, out / "rate.png", floor_factor=floor_factor)
        written.append("rate.png")
    if d_independence_figure(rows, out / "d_independence.png"):
        written.append("d_independence.png")
    if nearest and memorization_figure(nearest, rows, out / "memorization.png"):
        written.append("memorization.png")
    if crossover_figure(rows, out / "crossover.png"):
        written.append("crossover.png")
    return written


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", type=Path, help="a run directory or a multirun sweep directory")
    parser.add_argument("--out", type=Path, default=None, help="where figures go (default: dir)")
    parser.add_argument("--floor-factor", type=float, default=2.0)
    args = parser.parse_args(argv)
    if (args.dir / "rows.csv").exists() and not list(args.dir.glob("*/rows.csv")):
        rows = read_csv(args.dir / "rows.csv")
        nearest_path = args.dir / "nearest.csv"
        nearest = read_csv(nearest_path) if nearest_path.exists() else []
        written = draw_all(rows, nearest, args.out or args.dir, floor_factor=args.floor_factor)
    else:
        from experiments.collect import collect

        written = collect([args.dir], floor_factor=args.floor_factor).get("figures", [])
    print("wrote", ", ".join(written) or "nothing")  # noqa: T201


if __name__ == "__main__":
    main()
