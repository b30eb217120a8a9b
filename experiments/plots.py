"""Figures drawn only from saved results (no sampling, no JAX calls, no fitting of its own).

``python -m experiments.plots DIR [--out OUT]`` redraws everything from ``DIR/rows.csv`` or,
for a multirun sweep directory, from the rows of its finished jobs merged in memory
(``experiments.collect`` writes the merged files; this command only draws):

* ``rate.png``: log-log W1 against n per (manifold, d, D), every method (mean over seeds,
  bars from min to max), the fitted lines over the n actually used, the predicted slope
  -2/(d+4) drawn through the IDM points, IDM's radial shrinkage E[1 - |x|] (a lower bound on
  its W1) beside the leading term d/2 sigma^2, and the evaluation floor shaded.
* ``d_independence.png`` (when the rows hold several D at one n): W1 against D.
* ``memorization.png`` (from ``nearest.csv``): histograms of the distance from each sample to
  its nearest training point, dm against idm.
* ``crossover.png`` (semidiscrete rows with the training set): IDM against the training set.

The fitted lines come from ``experiments.helpers.fits`` (the summary's fit table).
"""

from __future__ import annotations

import math
import textwrap
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from experiments.helpers import rows as rowlib  # noqa: E402
from experiments.helpers import store  # noqa: E402
from experiments.helpers.fits import (  # noqa: E402
    base_method,
    fit_table,
    group_key,
    labelled,
    mean_band,
    ordered,
)
from idm.rates import predicted_exponent  # noqa: E402

__all__ = [
    "crossover_figure",
    "sample_grid",
    "tradeoff_figure",
    "d_independence_figure",
    "draw_all",
    "memorization_figure",
    "rate_figure",
]

_ZERO = 1e-12
COLORS = {"idm": "C0", "train": "C1", "dm": "C2", "early_stop": "C3", "kde": "C4", "cfdm": "C5",
          "trained": "C6", "idm_auto": "C9"}  # fmt: skip
MARKERS = {"idm": "o", "train": "s", "dm": "^", "early_stop": "v", "kde": "D", "cfdm": "P",
           "trained": "X", "idm_auto": "*"}  # fmt: skip


def _label(key: tuple) -> str:
    manifold, d, D = key
    return f"{manifold} (d={d}, D={D})"


def _color(label: str) -> str:
    base, _, c = label.partition(" c=")
    if c and float(c) != 1.0:
        return {"idm": "C9", "kde": "C6", "early_stop": "C8", "cfdm": "C7"}.get(base, "k")
    return COLORS.get(base, "k")


def _marker(label: str) -> str:
    return MARKERS.get(base_method(label), "o")


def _save(fig, path: str | Path) -> None:
    """Lays out, writes (atomically) and closes a figure (every figure here ends this way)."""
    fig.tight_layout()
    with store.atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=130, format=Path(path).suffix.lstrip("."))
    plt.close(fig)


def _log_ticks(ax, values, *, most: int = 8) -> None:
    """Labels a log x axis whatever its span; minor tick labels off (they overlap).

    Where the values reach a power of ten, matplotlib's decades label the axis. Where none lies
    between them (two n in one decade), LogLocator labels nothing, so the values themselves
    become the ticks (at most ``most`` of them, evenly thinned).
    """
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    v = np.unique([float(x) for x in values if np.isfinite(x) and x > 0])
    if v.size == 0:
        return
    powers = math.floor(math.log10(v[-1]) + 1e-9) - math.ceil(math.log10(v[0]) - 1e-9) + 1
    if powers >= 1:
        return
    v = v[np.unique(np.linspace(0, v.size - 1, min(most, v.size)).round().astype(int))]
    lo, hi = ax.get_xlim()
    ax.set_xlim(min(lo, v[0] / 1.05), max(hi, v[-1] * 1.05))  # every tick inside the panel
    ax.xaxis.set_major_locator(matplotlib.ticker.FixedLocator(v))
    ax.xaxis.set_major_formatter(
        matplotlib.ticker.FuncFormatter(lambda x, _: f"{x:.0f}" if x >= 1000 else f"{x:.3g}")
    )
    ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())


def _plain_log_label(x: float, _pos=None) -> str:
    """``x`` as a plain number where its mantissa is 1, 2 or 5, else no label (no overlaps)."""
    if not x > 0:
        return ""
    mantissa = x / 10 ** math.floor(math.log10(x) + 1e-9)
    return f"{x:g}" if min(abs(mantissa - m) for m in (1, 2, 5)) < 1e-6 else ""


def _interval(f: dict) -> str:
    """A fit's 95% interval for a legend, or why it has none.

    One seed at two n leaves the fit no residual degrees of freedom: its interval is NaN (null
    in a summary read back from strict JSON).
    """
    lo, hi = map(store.nan_if_none, f["ci"])
    if math.isfinite(lo) and math.isfinite(hi):
        return f"[{lo:.3f}, {hi:.3f}]"
    seeds = f.get("n_seeds", 0)
    return f"(no interval: {seeds} seed{'s' * (seeds != 1)} at {len(f['ns_used'])} n)"


def _note(ax, text: str) -> None:
    """An axis that says why it has nothing to draw, instead of an empty frame."""
    ax.clear()
    ax.set_axis_off()
    ax.text(0.5, 0.5, textwrap.fill(text, 50), ha="center", va="center", fontsize=9,
            color="0.3", transform=ax.transAxes)  # fmt: skip


def _panels(n: int):
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 4.2 * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, axes.flat


def rate_figure(rows: list[rowlib.Row], fits: list[dict], path: str | Path, *, floor_factor=2.0):
    """Log-log W1 against n per (manifold, d, D) and, below, the local slopes per doubling.

    Top: every method's seed-mean W1 with its error bar (the mean of the rows' ``w1_error``:
    the bracket's half-width for the law evaluators, the floor for the plug-in) and the seed
    range as a band; filled markers are the points the fit used; the fitted line; the bracket's
    ends (thin dashes); IDM's floor-free parts, the distance to the manifold (the radial bias;
    ``d/2 sigma^2`` its leading term) and on the circle W1 along the circle of the projected
    law; the predicted slope -2/(d+4) through the IDM points; the plug-in floor shaded (the
    floor the plug-in evaluator sits on: what the law evaluators remove). Bottom: IDM's slope
    between consecutive n with 95% intervals, and its parts', against -2/(d+4); drawn only when
    some panel has at least 3 n (with two, the one slope is the fitted exponent above), and a
    panel without slopes says why. A fit without an interval (one seed at two n) says so.
    """
    groups = defaultdict(list)
    for r in rows:
        groups[group_key(r)].append(r)
    fit_of = {(f["manifold"], f["d"], f["D"], f["method"]): f for f in fits}
    keys = sorted(groups)
    cols = len(keys)
    slopes_row = any(len({r.n for r in g}) >= 3 for g in groups.values())
    if slopes_row:
        fig, axes = plt.subplots(
            2, cols, figsize=(6.0 * cols, 8.4), squeeze=False, height_ratios=(3, 2)
        )
    else:
        fig, axes = plt.subplots(1, cols, figsize=(6.0 * cols, 5.0), squeeze=False)
    for col, key in enumerate(keys):
        ax, sax = axes[0, col], (axes[1, col] if slopes_row else None)
        grp = groups[key]
        slope_xs, why_no_slopes = [], "no IDM rows"
        d = key[1]
        ns, floor, _, _ = mean_band(grp, "w1_floor")
        plugin = all(r.evaluation != "span" for r in grp)
        ax.fill_between(ns, 0, floor, color="0.88", lw=0, label="plug-in floor (mean)")
        if plugin:
            ax.plot(ns, floor_factor * floor, color="0.6", ls=":", lw=1,
                    label=f"{floor_factor:g}x floor")  # fmt: skip
        slope_pred = predicted_exponent(d)
        smallest = np.inf  # the least positive mean W1 of the panel (for its lower y limit)
        for method in ordered(r.method for r in grp):
            mg = [r for r in grp if r.method == method]
            x, mean, lo, hi = mean_band(mg, "w1")
            if np.any(mean > 0):
                smallest = min(smallest, float(np.min(mean[mean > 0])))
            _, err, _, _ = mean_band(mg, "w1_error")
            c = _color(method)
            f = fit_of.get((*key, method), {})
            used = set(f.get("ns_used", []))
            filled = np.array([n in used for n in x])
            ax.fill_between(x, lo, hi, color=c, alpha=0.12, lw=0)
            if np.all(np.isfinite(err)):
                ax.errorbar(x, mean, yerr=err, fmt="none", ecolor=c, capsize=2, lw=1)
            ax.plot(x[filled], mean[filled], _marker(method), color=c)
            ax.plot(x[~filled], mean[~filled], _marker(method), mfc="none", color=c)
            label = method
            if "exponent" in f:
                label += f": {f['exponent']:.3f} {_interval(f)}"
                xu = np.array(sorted(used), float)
                ax.plot(xu, np.exp(f["intercept"]) * xu ** f["exponent"], "-", color=c, lw=1)
            ax.plot([], [], "-" + _marker(method), color=c, label=label)
            if all(r.w1_kind == "bracket" for r in mg):
                for end in ("w1_lower", "w1_upper"):
                    _, v, _, _ = mean_band(mg, end)
                    ax.plot(x, v, "-", color=c, lw=0.5, alpha=0.7)
            if base_method(method) != "idm":
                continue
            xs, dist, _, _ = mean_band(mg, "manifold_distance")
            ax.plot(xs, dist, "v--", color=c, lw=0.8, ms=3, label="idm distance to manifold")
            if np.all(np.isfinite([r.predicted_shrinkage for r in mg])):
                s2 = np.array([_sigma2(mg, n) for n in xs])
                ax.plot(xs, d / 2 * s2, ":", color="k", lw=0.8, label="d/2 sigma^2")
            if np.all(np.isfinite([r.w1_tangential for r in mg])):
                _, tang, _, _ = mean_band(mg, "w1_tangential")
                ax.plot(xs, tang, "^--", color="C6", lw=0.8, ms=3,
                        label="idm W1 along the circle (projected law)")  # fmt: skip
            pts = mean[filled] if filled.any() else mean
            xp = x[filled] if filled.any() else x
            anchor = np.exp(np.mean(np.log(pts)) - slope_pred * np.mean(np.log(xp)))
            ax.plot(x, anchor * x**slope_pred, "--", color="k", lw=1,
                    label=f"predicted slope {slope_pred:.3f}")  # fmt: skip
            why_no_slopes = f"no fit of {method} W1: {f['error']}" if "error" in f else "no pairs"
            if sax is None:
                continue
            parts = [("W1", f.get("slopes_per_doubling"), c, "o")]
            parts.append(
                (
                    "distance to manifold",
                    (f.get("distance_to_manifold") or {}).get("slopes_per_doubling"),
                    "0.4",
                    "v",
                )
            )
            parts.append(
                ("along the circle", (f.get("tangential") or {}).get("slopes_per_doubling"),
                 "C6", "^")
            )  # fmt: skip
            for j, (name, pairs, color, marker) in enumerate(parts):
                if not pairs:
                    continue
                xm = np.array([np.sqrt(p["n_lo"] * p["n_hi"]) for p in pairs]) * 1.04**j
                sl = np.array([p["slope"] for p in pairs])
                ci = np.array([p["ci"] for p in pairs])
                yerr = np.abs(np.stack([sl - ci[:, 0], ci[:, 1] - sl]))
                yerr = np.where(np.isfinite(yerr), yerr, 0.0)
                sax.errorbar(xm, sl, yerr=yerr, fmt=marker, color=color, capsize=2, ms=4,
                             label=f"{method} {name}")  # fmt: skip
                slope_xs += list(xm / 1.04**j)  # ticks at the pairs' middles
        if sax is not None:
            _slopes_panel(sax, slope_xs, slope_pred, len(ns), why_no_slopes)
        ax.set(
            xscale="log", yscale="log", xlabel="n (training points)", ylabel="W1", title=_label(key)
        )
        if np.isfinite(smallest):  # a lower bound of 0 (no certificate there) runs off the panel
            ax.set_ylim(bottom=max(ax.get_ylim()[0], smallest / 4))
        _log_ticks(ax, ns)
        ax.legend(fontsize=7)
    _save(fig, path)


def _slopes_panel(sax, xs: list[float], slope_pred: float, n_count: int, why_not: str) -> None:
    """The local-slope panel's reference lines and axes, or a note where it has no slopes."""
    if n_count < 3:
        _note(sax, f"local slopes need >= 3 n values (this panel has {n_count})")
        return
    if not xs:
        _note(sax, f"no local slopes ({why_not})")
        return
    sax.axhline(slope_pred, color="k", ls="--", lw=1, label=f"-2/(d+4) = {slope_pred:.3f}")
    sax.axhline(-0.5, color="C1", ls=":", lw=1, label="-1/2")
    sax.set(xscale="log", xlabel="n (geometric middle of the pair)",
            ylabel="local slope per doubling of n (95% intervals, clipped)")  # fmt: skip
    sax.set_ylim(-1.6, 0.6)  # three seeds make wide intervals: keep the scale readable
    _log_ticks(sax, xs)
    sax.legend(fontsize=7)


def _sigma2(rows: list[rowlib.Row], n: float) -> float:
    """sigma^2 recorded in the rows at this n."""
    return float(next(r.sigma for r in rows if r.n == n)) ** 2


def d_independence_figure(rows: list[rowlib.Row], path: str | Path) -> bool:
    """W1 against D (log-log) per (manifold, d, n) having several D; False if none does."""
    groups = defaultdict(list)
    for r in rows:
        groups[(r.manifold, int(r.d), int(r.n))].append(r)
    groups = {k: g for k, g in groups.items() if len({r.D for r in g}) >= 2}
    if not groups:
        return False
    fig, axes = _panels(len(groups))
    for ax, key in zip(axes, sorted(groups), strict=False):
        grp = groups[key]
        Ds, floor, _, _ = mean_band(grp, "w1_floor", x="D")
        ax.fill_between(Ds, 0, floor, color="0.85", lw=0, label="evaluation floor (mean)")
        for method in ordered(r.method for r in grp):
            x, mean, lo, hi = mean_band([r for r in grp if r.method == method], "w1", x="D")
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
        _log_ticks(ax, Ds)
        ax.legend(fontsize=7)
    _save(fig, path)
    return True


def memorization_figure(
    nearest: list[rowlib.NearestRow], rows: list[rowlib.Row], path: str | Path
) -> bool:
    """Histograms of nearest-training distances, dm against idm, per (manifold, d, D).

    Uses the largest n with samples of both; titles carry the copy fractions from the rows.
    False when nothing to draw.
    """
    groups = defaultdict(list)
    for r in nearest:
        groups[group_key(r)].append(r)
    panels = {}
    for key, grp in groups.items():
        methods = {r.method for r in grp}
        ns = [n for n in {r.n for r in grp} if {r.method for r in grp if r.n == n} == methods]
        if ns:
            panels[key] = (max(ns), grp)
    if not panels:
        return False
    fig, axes = _panels(len(panels))
    for ax, key in zip(axes, sorted(panels), strict=False):
        n, grp = panels[key]
        vals = {
            m: np.array([r.nn1 for r in grp if r.method == m and r.n == n], float)
            for m in ordered(r.method for r in grp)
        }
        # Exact copies (distance 0, or below float64 resolution) are drawn at _ZERO. The bins
        # span the distances present (a tenth of a decade either side), not down to _ZERO.
        clipped = np.concatenate([np.clip(v, _ZERO, None) for v in vals.values()])
        lo, hi = np.log10(clipped.min()) - 0.1, np.log10(clipped.max()) + 0.1
        most = max(v.size for v in vals.values())
        bins = np.logspace(lo, hi, int(np.clip(2 * np.sqrt(most), 10, 60)) + 1)
        for method, v in vals.items():
            cf = [
                r.copy_fraction
                for r in rows
                if group_key(r) == key and r.method == method and r.n == n
            ]
            note = f", copy fraction {np.mean(cf):.2f}" if cf else ""
            ax.hist(
                np.clip(v, _ZERO, None),
                bins=bins,
                alpha=0.6,
                color=COLORS.get(method),
                label=f"{method}{note}",
            )
        below = f" (below {_ZERO:g} drawn at {_ZERO:g})" if np.any(clipped <= _ZERO) else ""
        ax.set(
            xscale="log",
            xlabel=f"distance to nearest training point{below}",
            ylabel="samples",
            title=f"{_label(key)}, n={n}",
        )
        if hi - lo <= 2:  # within two decades: 1, 2, 5 times powers of ten, as plain numbers
            for axis_ticks in (ax.xaxis.set_major_formatter, ax.xaxis.set_minor_formatter):
                axis_ticks(matplotlib.ticker.FuncFormatter(_plain_log_label))
        ax.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True, steps=[1, 2, 5, 10]))
        ax.legend(fontsize=7)
    _save(fig, path)
    return True


def crossover_figure(rows: list[rowlib.Row], path: str | Path) -> bool:
    """W1 of IDM (each c) and of the training set against n, semidiscrete evaluator only.

    Beside them: the floor of an m-point population sample (what any m samples pay; the
    training set's n points pay their own), and IDM's radial shrinkage E[1 - |x|], a floor-free
    lower bound on IDM's W1. False when there is nothing to draw.
    """
    rows = [r for r in labelled(rows) if r.evaluator == "semidiscrete"]
    groups = defaultdict(list)
    for r in rows:
        groups[group_key(r)].append(r)
    groups = {k: g for k, g in groups.items() if any(r.method == "train" for r in g)}
    if not groups:
        return False
    fig, axes = _panels(len(groups))
    for ax, key in zip(axes, sorted(groups), strict=False):
        grp = groups[key]
        for label in ordered({r.method for r in grp}):
            mg = [r for r in grp if r.method == label]
            x, mean, lo, hi = mean_band(mg, "w1")
            ax.errorbar(
                x,
                mean,
                yerr=[mean - lo, hi - mean],
                fmt="-" + _marker(label),
                color=_color(label),
                label=f"{label} W1 (m = {mg[0].m if label != 'train' else 'n'})",
            )
            if base_method(label) == "idm":
                xs, shrink, _, _ = mean_band(mg, "radial_shrinkage")
                if np.all(np.isfinite(shrink)):
                    ax.plot(
                        xs,
                        shrink,
                        ":",
                        color=_color(label),
                        label=f"{label} E[1-|x|] (lower bound)",
                    )
        idm_m = {r.m for r in grp if r.method != "train"}
        floor = np.mean([r.w1_floor for r in grp])
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
        _log_ticks(ax, [r.n for r in grp])
        ax.legend(fontsize=7)
    _save(fig, path)
    return True


def tradeoff_figure(rows: list[dict], summary: dict, path: str | Path, max_copy: float) -> None:
    """Copy fraction and classifier confidence against held-out W1, one curve per method.

    Each point is the mean over splits of one (method, c); c grows along a curve (labelled at
    its ends); the training set and IDM at c=auto (each split) are marked; the held-out
    split's own floor (W1 between its halves) and its classifier score are drawn as lines.
    """
    curves = summary["curves"]
    rows_auto = [r for r in rows if r["is_auto"]]
    xlim = _tradeoff_xlim(curves, rows_auto, summary)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6))
    for ax, key, ylabel in (
        (axes[0], "copy_fraction", "copy fraction (nearest / second nearest < 1/3)"),
        (axes[1], "confident", "classified with probability > 0.9"),
    ):
        for method, curve in curves.items():
            if method == "train":
                continue
            x = np.array([p["w1_test"] for p in curve])
            y = np.array([p[key] for p in curve])
            if not np.any(np.isfinite(y)):
                continue
            label = method if method != "dm" else "dm (memorizes)"
            if np.nanmin(x) > xlim[1]:
                label += f" (W1 >= {np.nanmin(x):.3g}: off to the right)"
            ax.plot(x, y, "-" + _marker(method), color=COLORS.get(method, "k"), ms=4,
                    label=label)  # fmt: skip
            if len(curve) > 1 and curve[0]["c"] is not None:
                for p, ha in ((curve[0], "right"), (curve[-1], "left")):
                    ax.annotate(f"c={p['c']:g}", (p["w1_test"], p[key]), fontsize=6, ha=ha)
        train = curves.get("train")
        if train:
            ax.plot(train[0]["w1_test"], train[0][key] if key != "copy_fraction" else 1.0,
                    "s", color=COLORS["train"], ms=8, label="training set")  # fmt: skip
        if rows_auto:
            ax.plot([r["w1_test"] for r in rows_auto], [r[key] for r in rows_auto], "*",
                    color="k", ms=11, label="idm at c=auto (each split)")  # fmt: skip
        ax.axvline(summary["w1_floor"], color="0.5", ls=":", lw=1,
                   label="floor: W1 between halves of the test split")  # fmt: skip
        if key == "copy_fraction":
            ax.axhline(max_copy, color="C3", ls="--", lw=0.8, label=f"guard {max_copy:g}")
            ax.set_yscale("symlog", linthresh=1e-3)
            ax.set_ylim(0, 1.5)
        elif math.isfinite(summary.get("test_confident", math.nan)):
            ax.axhline(summary["test_confident"], color="0.3", ls="--", lw=0.8,
                       label="held-out images")  # fmt: skip
        ax.set(xlabel="held-out W1 to the test split (exact)", ylabel=ylabel)
        ax.set_xlim(*xlim)
        ax.legend(fontsize=7)
    _save(fig, path)


def _tradeoff_xlim(curves, rows_auto, summary) -> tuple[float, float]:
    """The x range of the trade-off figure, with a margin.

    Every curve but KDE's (its ambient noise runs far off to the right), the training set,
    c=auto and the floor.
    """
    xs = [p["w1_test"] for m, c in curves.items() if m != "kde" for p in c]
    xs += [r["w1_test"] for r in rows_auto] + [summary["w1_floor"], summary["w1_train"]]
    xs = [x for x in xs if math.isfinite(x)]
    lo, hi = min(xs), max(xs)
    return lo - 0.05 * (hi - lo) - 0.01 * lo, hi + 0.1 * (hi - lo) + 0.01 * hi


def sample_grid(panels, side: int, path: str | Path) -> None:
    """Samples (top row of each panel) above their nearest training images (bottom row)."""
    cols = max(len(x) for _, x, _ in panels)
    fig, axes = plt.subplots(2 * len(panels), cols, figsize=(cols * 0.9, len(panels) * 2.2),
                             squeeze=False)  # fmt: skip
    for p, (label, x, nearest) in enumerate(panels):
        for j in range(cols):
            for row, img in ((2 * p, x), (2 * p + 1, nearest)):
                ax = axes[row, j]
                ax.set_xticks([])
                ax.set_yticks([])
                if j < len(img):
                    ax.imshow(np.asarray(img[j]).reshape(side, side), cmap="gray_r", vmin=0,
                              vmax=float(np.max(nearest)))  # fmt: skip
        axes[2 * p, 0].set_ylabel("sample", fontsize=7)
        axes[2 * p + 1, 0].set_ylabel("nearest\ntraining", fontsize=7)
        axes[2 * p, cols // 2].set_title(label, fontsize=9)
    _save(fig, path)


def draw_all(rows, nearest, out: str | Path, *, fits=None, floor_factor=2.0) -> list[str]:
    """Draws every figure the rows support into ``out``; returns the file names written."""
    out = Path(out)
    fits = fit_table(rows, floor_factor=floor_factor) if fits is None else fits
    rows = labelled(rows)
    written = []
    if len({r.n for r in rows}) >= 2:
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
    from experiments.helpers import preflight

    parser = preflight.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", type=Path, help="a run directory or a multirun sweep directory")
    parser.add_argument("--out", type=Path, default=None, help="where figures go (default: dir)")
    parser.add_argument("--floor-factor", type=float, default=2.0)
    args = parser.parse_args(argv)
    if not args.dir.is_dir():
        preflight.fail(f"dir: {args.dir} is not a directory")
    if (args.dir / "rows.csv").exists() and not list(args.dir.glob("*/rows.csv")):
        rows, nearest, _ = rowlib.read_job(args.dir)
    else:
        jobs = [rowlib.read_job(job) for job in store.find_jobs([args.dir])]
        if not jobs:
            preflight.fail(f"dir: no rows.csv in {args.dir} or its jobs")
        rows = rowlib.merge([j[0] for j in jobs])[0]
        nearest = rowlib.merge_nearest([j[1] for j in jobs])
    written = draw_all(rows, nearest, args.out or args.dir, floor_factor=args.floor_factor)
    print("wrote", ", ".join(written) or "nothing")  # noqa: T201


if __name__ == "__main__":
    main()
