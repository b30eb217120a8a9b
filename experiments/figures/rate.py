"""The rate app's figures, drawn from rows and the summary's fit table (no fitting here).

* ``rate.png``: log-log W1 against n per (manifold, d, D), every method (mean over seeds,
  bars from min to max), the fitted lines over the n the fit used (from the fit table), the
  predicted slope -2/(d+4) through the IDM fit's centre, IDM's distance to the manifold
  beside the leading term d/2 sigma^2, and, for methods judged by the plug-in floor, the floor
  shaded; below, the local slopes per doubling of n.
* ``d_independence.png`` (when the rows hold several D at one n): W1 against D.
* ``memorization.png`` (from ``nearest.csv``): histograms of the distance from each sample to
  its nearest training point, dm against idm.
* ``crossover.png`` (semidiscrete rows with the training set): IDM against the training set.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np

from experiments.figures import style
from experiments.figures.style import PART_COLORS, color, marker, panel_title
from experiments.helpers import inclusion, store
from experiments.helpers import rows as rowlib
from experiments.helpers.fits import (
    base_method,
    group_key,
    labelled,
    library_method,
    mean_band,
    ordered,
)
from experiments.helpers.schemas import FitConfig
from idm.rates import reference_exponent

__all__ = [
    "crossover_figure",
    "d_independence_figure",
    "draw_all",
    "memorization_figure",
    "rate_figure",
]

_ZERO = 1e-12


def _interval(f: dict) -> str:
    """A fit's 95% interval for a legend, or why it has none.

    One seed at two n leaves the fit no residual degrees of freedom: its interval is NaN (null
    in a summary read back from strict JSON).
    """
    lo, hi = map(store.nan_if_none, f["ci"])
    if np.isfinite(lo) and np.isfinite(hi):
        return f"[{lo:.3f}, {hi:.3f}]"
    seeds = f.get("n_seeds", 0)
    return f"(no interval: {seeds} seed{'s' * (seeds != 1)} at {len(f['ns_used'])} n)"


def rate_figure(rows: list[rowlib.Row], fits: list[dict], path: str | Path, settings: FitConfig):
    """Log-log W1 against n per (manifold, d, D) and, below, the local slopes per doubling.

    Top: every method's seed-mean W1 with its error bar (the mean of the rows' ``w1_error``:
    the bracket's half-width for the law evaluators, the floor for the plug-in) and the seed
    range as a band; filled markers are the points the fit used; the fitted line; the bracket's
    ends (thin dashes); IDM's floor-free parts, the distance to the manifold (the radial bias;
    ``d/2 sigma^2`` its leading term) and on the circle W1 along the circle of the projected
    law; the predicted slope -2/(d+4) through the IDM fit's centre; for the methods the floor
    rule judges (plug-in W1), their floor shaded and ``settings.floor_factor`` times it dotted
    (not drawn where every method has error bars: it would be the floor of nothing shown).
    Bottom: IDM's slope between consecutive n with 95% intervals, and its parts', against
    -2/(d+4); drawn only when some panel has at least 3 n, and a panel without slopes says why.
    Panel titles name the manifold and d, and D where the figure holds several.
    """
    groups = defaultdict(list)
    for r in rows:
        groups[group_key(r)].append(r)
    fit_of = {(f["manifold"], f["d"], f["D"], f["method"]): f for f in fits}
    keys = sorted(groups)
    # A row of slope panels where some panel has 3 n (with two, the one slope is the exponent)
    # and the fit table is one that computes slopes: tables written before slopes existed have
    # neither slopes nor a recorded rule, and would show a row of empty panels.
    slopes_row = any(len({r.n for r in g}) >= 3 for g in groups.values()) and any(
        "slopes_per_doubling" in f or "rule" in f for f in fits
    )
    fig, tops, bottoms = _rate_layout(len(keys), slopes_row)
    one_d = len({k[2] for k in keys}) == 1
    for top, sax, key in zip(tops, bottoms, keys, strict=False):
        _rate_panel(top, sax, key, groups[key], fit_of, settings)
        top.set_title(panel_title(key[0], key[1], None if one_d else key[2]))
    legend_rows = _shared_legend(fig, tops[: len(keys)], bottoms[: len(keys)])
    height = fig.get_figheight()
    top = 1.0
    if one_d:
        fig.suptitle(f"ambient dimension D = {keys[0][2]}", fontsize=10)
        top = 1 - 0.35 / height
    style.save(fig, path, rect=(0, (0.1 + 0.2 * legend_rows) / height, 1, top))


def _rate_layout(n: int, slopes_row: bool):
    """Panels at most four a row, each a W1 axis above (with ``slopes_row``) a slope axis.

    Returns the figure, the W1 axes and the slope axes (None each without ``slopes_row``).
    """
    cols = min(n, 4)
    panel_rows = -(-n // cols)
    per = 2 if slopes_row else 1
    fig, axes = plt.subplots(
        per * panel_rows,
        cols,
        figsize=(6.0 * cols, (8.4 if slopes_row else 5.0) * panel_rows + 0.8),
        squeeze=False,
        height_ratios=(3, 2) * panel_rows if slopes_row else None,
    )
    tops = [axes[per * (i // cols), i % cols] for i in range(panel_rows * cols)]
    bottoms = [
        axes[per * (i // cols) + 1, i % cols] if slopes_row else None for i in range(len(tops))
    ]
    for i in range(n, len(tops)):
        for ax in (tops[i], bottoms[i]):
            if ax is not None:
                ax.set_visible(False)
    return fig, tops, bottoms


def _shared_legend(fig, tops, bottoms) -> int:
    """One legend below the panels for what every panel draws alike (parts, references).

    Each W1 panel keeps its own legend of the methods and their fitted exponents (set by
    :func:`_rate_panel`); every other labelled line is listed here once. Returns its rows.
    """
    own = {t.get_text() for ax in tops if ax.get_legend() for t in ax.get_legend().texts}
    seen = {}
    for ax in [*tops, *(b for b in bottoms if b is not None)]:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            if label not in own and label not in seen:
                seen[label] = handle
    if not seen:
        return 0
    ncol = min(len(seen), 5, max(1, int(fig.get_figwidth() // 3.4)))  # ~3.4 in an entry
    fig.legend(seen.values(), seen.keys(), loc="lower center", ncol=ncol, fontsize=8,
               frameon=False)  # fmt: skip
    return -(-len(seen) // ncol)


def _rate_panel(ax, sax, key, grp, fit_of, settings: FitConfig) -> None:
    """One column of the rate figure: W1 against n on top, its local slopes below."""
    d = key[1]
    ns = sorted({r.n for r in grp})
    _floor_band(ax, grp, settings.floor_factor)
    smallest = np.inf  # the least positive mean W1 of the panel (for its lower y limit)
    slope_xs, why_no_slopes, own = [], "no IDM rows", []
    for method in ordered(r.method for r in grp):
        mg = [r for r in grp if r.method == method]
        f = fit_of.get((*key, method), {})
        least, handle = _method_w1(ax, mg, method, f, d)
        smallest, own = min(smallest, least), [*own, handle]
        if base_method(method) != "idm":
            continue
        _idm_parts(ax, mg, d)
        _predicted_line(ax, mg, f, d)
        why_no_slopes = f"no fit of {method} W1: {f['error']}" if "error" in f else "no pairs"
        if sax is not None:
            slope_xs += _slope_points(sax, method, f)
    if sax is not None:
        _slopes_panel(sax, slope_xs, reference_exponent("idm", d), len(ns), why_no_slopes)
    ax.set(xscale="log", yscale="log", xlabel="n (training points)", ylabel="W1")
    if np.isfinite(smallest):  # a lower bound of 0 (no certificate there) runs off the panel
        ax.set_ylim(bottom=max(ax.get_ylim()[0], smallest / 4))
    style.log_ticks(ax, ns)
    ax.legend(handles=own, fontsize=7)


def _floor_band(ax, grp, factor: float | None, x: str = "n") -> None:
    """The plug-in floor of the methods the floor rule judges, and the rule's line above it.

    Where only plug-in evaluations ran, the mean floor is shaded (it bounds every value shown)
    and, with a ``factor``, the fit rule's line drawn at ``factor`` times it. Where the bracket
    evaluator ran, the floor bounds none of its values: the floor-judged methods' floors are
    drawn as lines in their own colours instead, and nothing is shaded. ``x``: the row column
    along the axis (``"n"`` or ``"D"``).
    """
    by_method = defaultdict(list)
    for r in grp:
        by_method[r.method].append(r)
    judged = {m: mg for m, mg in by_method.items() if not inclusion.by_error_bar(mg)}
    if not judged:
        return
    if not any(r.evaluator == "bracket" or r.w1_kind in inclusion.ERROR_BAR_KINDS for r in grp):
        plugin = [r for mg in judged.values() for r in mg]
        xs, floor, _, _ = mean_band(plugin, "w1_floor", x=x)
        ax.fill_between(xs, 0, floor, color=PART_COLORS["floor"], lw=0,
                        label="plug-in floor (mean)")  # fmt: skip
        if factor is not None:
            ax.plot(xs, factor * floor, color=PART_COLORS["floor_line"], ls=":", lw=1,
                    label=f"{factor:g}x floor")  # fmt: skip
        return
    for method, mg in judged.items():
        xs, floor, _, _ = mean_band(mg, "w1_floor", x=x)
        c = color(method)
        ax.plot(xs, floor, color=c, ls="--", lw=0.6, label=f"{method} plug-in floor (mean)")
        if factor is not None:
            ax.plot(xs, factor * floor, color=c, ls=":", lw=0.8,
                    label=f"{factor:g}x {method} floor (its fit keeps n above)")  # fmt: skip


def _method_w1(ax, mg, method: str, f: dict, d: int):
    """One method's W1: band, error bars, markers (filled where fitted), fitted line, ends.

    Returns the least positive mean W1 drawn (inf if none) and the method's legend handle,
    labelled with its fitted exponent and interval and the exponent it is compared with.
    """
    x, mean, lo, hi = mean_band(mg, "w1")
    _, err, _, _ = mean_band(mg, "w1_error")
    c = color(method)
    used = set(f.get("ns_used", []))
    filled = np.array([n in used for n in x])
    ax.fill_between(x, lo, hi, color=c, alpha=0.12, lw=0)
    if np.all(np.isfinite(err)):
        ax.errorbar(x, mean, yerr=err, fmt="none", ecolor=c, capsize=2, lw=1)
    ax.plot(x[filled], mean[filled], marker(method), color=c)
    ax.plot(x[~filled], mean[~filled], marker(method), mfc="none", color=c)
    label = method
    if "exponent" in f:
        label += f": {f['exponent']:.3f} {_interval(f)}"
        xu = np.array(sorted(used), float)
        ax.plot(xu, np.exp(f["intercept"]) * xu ** f["exponent"], "-", color=c, lw=1)
    reference = reference_exponent(library_method(method), d)
    if reference is not None:
        label += f" (reference {reference:.3f})"
    (handle,) = ax.plot([], [], "-" + marker(method), color=c, label=label)
    if all(r.w1_kind == "bracket" for r in mg):
        for end in ("w1_lower", "w1_upper"):
            _, v, _, _ = mean_band(mg, end)
            ax.plot(x, v, "-", color=c, lw=0.5, alpha=0.7,
                    label="lower and upper ends of the W1 bracket (thin)")  # fmt: skip
    positive = mean[mean > 0]
    return (float(np.min(positive)) if positive.size else np.inf), handle


def _idm_parts(ax, mg, d: int) -> None:
    """IDM's floor-free parts: distance to the manifold, d/2 sigma^2, W1 along the circle."""
    c = color(mg[0].method)
    xs, dist, _, _ = mean_band(mg, "manifold_distance")
    ax.plot(xs, dist, "v--", color=c, lw=0.8, ms=3, label=f"{mg[0].method} distance to manifold")
    if np.all(np.isfinite([r.predicted_shrinkage for r in mg])):
        s2 = np.array([float(next(r.sigma for r in mg if r.n == n)) ** 2 for n in xs])
        ax.plot(xs, d / 2 * s2, ":", color=PART_COLORS["reference"], lw=0.8, label="d/2 sigma^2")
    if np.all(np.isfinite([r.w1_tangential for r in mg])):
        _, tang, _, _ = mean_band(mg, "w1_tangential")
        ax.plot(xs, tang, "^--", color=PART_COLORS["tangential"], lw=0.8, ms=3,
                label=f"{mg[0].method} W1 along the circle (projected law)")  # fmt: skip


def _predicted_line(ax, mg, f: dict, d: int) -> None:
    """The slope -2/(d+4) through the centre of IDM's fitted line (no fit of its own).

    The fitted line passes through (mean log n, mean log W1) of the n it used; the predicted
    line goes through the same point. Without a fit, through the drawn means' geometric centre.
    """
    slope = reference_exponent("idm", d)
    x, mean, _, _ = mean_band(mg, "w1")
    if "exponent" in f:
        log_x = float(np.mean(np.log(np.asarray(f["ns_used"], float))))
        log_y = f["intercept"] + f["exponent"] * log_x
    else:
        log_x, log_y = float(np.mean(np.log(x))), float(np.mean(np.log(mean)))
    ax.plot(x, np.exp(log_y + slope * (np.log(x) - log_x)), "--", color=PART_COLORS["reference"],
            lw=1, label="predicted slope -2/(d+4), through the fit's centre")  # fmt: skip


def _slope_points(sax, method: str, f: dict) -> list[float]:
    """IDM's local slopes per doubling (W1 and its parts); returns the pairs' middles."""
    parts = [
        ("W1", f.get("slopes_per_doubling"), color(method), "o"),
        ("distance to manifold", (f.get("distance_to_manifold") or {}).get("slopes_per_doubling"),
         PART_COLORS["distance_slopes"], "v"),
        ("along the circle", (f.get("tangential") or {}).get("slopes_per_doubling"),
         PART_COLORS["tangential"], "^"),
    ]  # fmt: skip
    xs = []
    for j, (name, pairs, c, mk) in enumerate(parts):
        if not pairs:
            continue
        xm = np.array([np.sqrt(p["n_lo"] * p["n_hi"]) for p in pairs]) * 1.04**j
        sl = np.array([p["slope"] for p in pairs])
        ci = np.array([p["ci"] for p in pairs], float)
        yerr = np.abs(np.stack([sl - ci[:, 0], ci[:, 1] - sl]))
        yerr = np.where(np.isfinite(yerr), yerr, 0.0)
        sax.errorbar(
            xm,
            sl,
            yerr=yerr,
            fmt=mk,
            color=c,
            capsize=2,
            ms=4,
            label=f"{method} {name} (local slopes)",
        )
        xs += list(xm / 1.04**j)  # ticks at the pairs' middles
    return xs


def _slopes_panel(sax, xs: list[float], slope_pred: float, n_count: int, why_not: str) -> None:
    """The local-slope panel's reference lines and axes, or a note where it has no slopes."""
    if n_count < 3:
        style.note(sax, f"local slopes need >= 3 n values (this panel has {n_count})")
        return
    if not xs:
        style.note(sax, f"no local slopes ({why_not})")
        return
    sax.axhline(slope_pred, color=PART_COLORS["reference"], ls="--", lw=1)
    sax.axhline(-0.5, color=style.COLORS["train"], ls=":", lw=1, label="local slope -1/2")
    sax.set_title(f"local slopes (dashed: -2/(d+4) = {slope_pred:.3f})", fontsize=9)
    sax.set(xscale="log", xlabel="n (geometric middle of the pair)",
            ylabel="local slope per doubling of n (95% intervals, clipped)")  # fmt: skip
    sax.set_ylim(-1.6, 0.6)  # three seeds make wide intervals: keep the scale readable
    style.log_ticks(sax, xs)


def d_independence_figure(rows: list[rowlib.Row], path: str | Path) -> bool:
    """W1 against D (log-log) per (manifold, d, n) having several D; False if none does.

    The plug-in floor is drawn as in the rate figure (shaded only where no bracket ran).
    """
    groups = defaultdict(list)
    for r in rows:
        groups[(r.manifold, int(r.d), int(r.n))].append(r)
    groups = {k: g for k, g in groups.items() if len({r.D for r in g}) >= 2}
    if not groups:
        return False
    fig, axes = style.panels(len(groups))
    for ax, key in zip(axes, sorted(groups), strict=False):
        grp = groups[key]
        Ds = sorted({r.D for r in grp})
        _floor_band(ax, grp, None, x="D")
        for method in ordered(r.method for r in grp):
            x, mean, lo, hi = mean_band([r for r in grp if r.method == method], "w1", x="D")
            c = color(method)
            ax.errorbar(
                x,
                mean,
                yerr=[mean - lo, hi - mean],
                fmt="-" + marker(method),
                color=c,
                label=f"{method} (D={x[0]:g}: {mean[0]:.3g}, D={x[-1]:g}: {mean[-1]:.3g})",
            )
        ax.set(
            xscale="log",
            yscale="log",
            xlabel="ambient dimension D",
            ylabel="W1",
            title=f"{panel_title(key[0], key[1])}, n = {key[2]}",
        )
        style.log_ticks(ax, Ds)
        style.legend_below(ax)
    style.save(fig, path)
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
    fig, axes = style.panels(len(panels))
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
                color=style.COLORS.get(method),
                label=f"{method}{note}",
            )
        below = f" (below {_ZERO:g} drawn at {_ZERO:g})" if np.any(clipped <= _ZERO) else ""
        ax.set(
            xscale="log",
            xlabel=f"distance to nearest training point{below}",
            ylabel="samples",
            title=f"{panel_title(*key)}, n = {n}",
        )
        if hi - lo <= 2:  # within two decades: 1, 2, 5 times powers of ten, as plain numbers
            for axis_ticks in (ax.xaxis.set_major_formatter, ax.xaxis.set_minor_formatter):
                axis_ticks(matplotlib.ticker.FuncFormatter(style.plain_log_label))
        ax.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True, steps=[1, 2, 5, 10]))
        ax.legend(fontsize=7)
    style.save(fig, path)
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
    fig, axes = style.panels(len(groups))
    for ax, key in zip(axes, sorted(groups), strict=False):
        grp = groups[key]
        for label in ordered({r.method for r in grp}):
            mg = [r for r in grp if r.method == label]
            x, mean, lo, hi = mean_band(mg, "w1")
            ax.errorbar(
                x,
                mean,
                yerr=[mean - lo, hi - mean],
                fmt="-" + marker(label),
                color=color(label),
                label=f"{label} W1 (m = {mg[0].m if label != 'train' else 'n'})",
            )
            if base_method(label) == "idm":
                xs, shrink, _, _ = mean_band(mg, "radial_shrinkage")
                if np.all(np.isfinite(shrink)):
                    ax.plot(
                        xs,
                        shrink,
                        ":",
                        color=color(label),
                        label=f"{label} E[1-|x|] (lower bound)",
                    )
        idm_m = {r.m for r in grp if r.method != "train"}
        floor = np.mean([r.w1_floor for r in grp])
        ax.axhline(
            floor,
            color=PART_COLORS["sample_floor"],
            lw=6,
            alpha=0.3,
            label=f"floor of {max(idm_m, default=0)} population points",
        )
        ax.set(
            xscale="log",
            yscale="log",
            xlabel="n (training points)",
            ylabel="W1 to the population (semidiscrete)",
            title=panel_title(*key),
        )
        style.log_ticks(ax, [r.n for r in grp])
        style.legend_below(ax)
    style.save(fig, path)
    return True


def draw_all(rows, nearest, out: str | Path, fits: list[dict], settings: FitConfig) -> list[str]:
    """Draws every figure the rows support into ``out``; returns the file names written.

    Args:
        rows: the rows (labelled here: several c of one method are kept apart).
        nearest: the nearest-training distances (``nearest.csv``), possibly empty.
        out: the folder the figures go to.
        fits: the summary's fit table (:func:`experiments.helpers.fits.fit_table`), drawn as is.
        settings: the fit settings that table used (its floor rule is drawn with the floor).
    """
    out = Path(out)
    rows = labelled(rows)
    written = []
    if len({r.n for r in rows}) >= 2:
        rate_figure(rows, fits, out / "rate.png", settings)
        written.append("rate.png")
    if d_independence_figure(rows, out / "d_independence.png"):
        written.append("d_independence.png")
    if nearest and memorization_figure(nearest, rows, out / "memorization.png"):
        written.append("memorization.png")
    if crossover_figure(rows, out / "crossover.png"):
        written.append("crossover.png")
    return written
