"""Figure and tables of ``experiment=trained``: W1 and copying against n, trained vs IDM vs train.

    python -m experiments.studies.trained_figure [SWEEP_DIR] [--readme README.md]

Reads every job of the sweep (its rows.csv, or, for a job still running or stopped, the cells
its checkpoint holds) and writes into SWEEP_DIR: trained.png (per manifold and D: W1 against n
on log axes, the copy fraction against n, and the median nearest / second-nearest training
distance ratio against n (the copy rule's statistic: a sample copies below 1/3), one line per
method, the mean over seeds with the standard error over seeds as the bar; the trained
network's plug-in floor dashed and its distance to the manifold, a lower bound on its W1,
dotted) and trained.md (the tables: mean W1 with each row's own error bar, copies,
nearest-neighbour median and ratio, training seconds; the README's table; what the rows
show, per manifold and D). IDM appears twice: at c = 1 (``idm``) and at the c that
``idm.bandwidth.select_c`` chooses on each cell's training set (``idm_auto``). No JAX.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path

import numpy as np

from experiments.helpers import preflight
from experiments.helpers import rows as rowlib

METHODS = ("idm", "idm_auto", "train", "trained")
#: The methods a (manifold, D, n) needs in the tables; idm_auto's columns read "—" without it
#: (rows written before the method existed).
REQUIRED = ("idm", "train", "trained")
LABELS = {"idm": "IDM (c = 1)", "idm_auto": "IDM (c = auto)", "train": "training set",
          "trained": "trained network (plug-in)"}  # fmt: skip
PANELS = (("circle", 1, 2), ("circle", 1, 100), ("sphere", 2, 3), ("sphere", 2, 100))


def load_rows(sweep: Path) -> list[rowlib.Row]:
    """Rows of every job under ``sweep``: finished jobs' rows.csv, else their checkpoint."""
    rows = []
    for job in sorted(p for p in sweep.iterdir() if p.is_dir()):
        if (job / "rows.csv").exists():
            rows += rowlib.read_csv(job / "rows.csv")
        elif (job / "partial.json").exists():
            saved = json.loads((job / "partial.json").read_text())
            for r in saved["rows"]:  # strict JSON: a NaN was written as null
                rows.append(rowlib.Row(**{k: math.nan if v is None else v for k, v in r.items()}))
    return rows


def _groups(rows):
    g = defaultdict(list)
    for r in rows:
        g[(r.manifold, r.d, r.D, r.method, r.n)].append(r)
    return g


def _se(v):
    v = np.asarray(v, float)
    return float(v.std(ddof=1) / math.sqrt(len(v))) if len(v) > 1 else math.nan


DASH = "—"


def _mean(cell, key):
    return float(np.mean([getattr(r, key) for r in cell])) if cell else math.nan


def _bracket(cell, digits=4):
    """Mean value ± mean half-width of a method's rows (its law bracket, or plug-in floor)."""
    if not cell:
        return DASH
    return f"{_mean(cell, 'w1'):.{digits}f} ± {_mean(cell, 'w1_error'):.{digits}f}"


def _num(v: float, fmt: str) -> str:
    return format(v, fmt) if math.isfinite(v) else DASH


def table(rows) -> str:
    """Markdown table: per (manifold, D, n) the four methods side by side.

    Means over seeds; idm (c = 1), idm_auto (c chosen per cell; the mean c beside it) and
    train with the mean half-width of their law brackets; the trained network's plug-in with
    its floor, its distance to the manifold (a lower bound on its W1), copies, the median
    distance to the nearest training point and the median nearest / second-nearest ratio.
    """
    g = _groups(rows)
    lines = [
        "| manifold | D | n | seeds | W1 idm (c=1) | W1 idm (c=auto) | c auto | W1 train"
        " | W1 trained: plug-in (floor) | trained: lower bound | trained copies"
        " | trained NN median | trained NN ratio | train s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for manifold, d, D in PANELS:
        ns = sorted({k[4] for k in g if k[:3] == (manifold, d, D)})
        for n in ns:
            cell = {m: g.get((manifold, d, D, m, n), []) for m in METHODS}
            if not all(cell[m] for m in REQUIRED):
                continue
            seeds = min(len(v) for v in cell.values() if v)
            tr, auto = cell["trained"], cell["idm_auto"]
            lines.append(
                f"| {manifold} | {D} | {n} | {seeds} | {_bracket(cell['idm'])} | "
                f"{_bracket(auto)} | {_num(_mean(auto, 'c'), '.2f')} | {_bracket(cell['train'])} | "
                f"{_mean(tr, 'w1'):.4f} ({_mean(tr, 'w1_floor'):.3f}) | "
                f"{_mean(tr, 'manifold_distance'):.4f} | {_mean(tr, 'copy_fraction'):.3f} | "
                f"{_mean(tr, 'nn_median'):.3f} | {_num(_mean(tr, 'nn_ratio_median'), '.3f')} | "
                f"{_mean(tr, 'train_s'):.0f} |"
            )
    return "\n".join(lines)


#: The README's rows: (manifold, d, D, n).
README_PICKS = (
    *(("circle", 1, 100, n) for n in (64, 512, 4096)),
    *(("sphere", 2, 100, n) for n in (64, 128, 512, 4096)),
)
README_HEADER = (
    "| manifold | n | W1 IDM c = 1 | W1 IDM c = auto (c) | W1 train"
    " | W1 trained: plug-in (floor) | trained: lower bound | trained copies | train s |"
)


def _percent(v: float) -> str:
    return "0" if v == 0 else f"{100 * v:.1f}%"


def readme_table(rows) -> str:
    """The README's table (D = 100, means over seeds), exactly as printed there."""
    g = _groups(rows)
    lines = [README_HEADER, "|---|---|---|---|---|---|---|---|---|"]
    for manifold, d, D, n in README_PICKS:
        cell = {m: g.get((manifold, d, D, m, n), []) for m in METHODS}
        if not all(cell[m] for m in REQUIRED):
            continue
        tr, auto = cell["trained"], cell["idm_auto"]
        c_auto = f" ({_mean(auto, 'c'):.2f})" if auto else ""
        lines.append(
            f"| S^{d} | {n} | {_bracket(cell['idm'], 3)} | "
            f"{_bracket(auto, 3)}{c_auto} | {_bracket(cell['train'], 3)} | "
            f"{_mean(tr, 'w1'):.3f} ({_mean(tr, 'w1_floor'):.3f}) | "
            f"{_mean(tr, 'manifold_distance'):.3f} | {_percent(_mean(tr, 'copy_fraction'))} | "
            f"{_mean(tr, 'train_s'):.0f} |"
        )
    return "\n".join(lines)


def _ns(ns: list[int], grid: list[int]) -> str:
    """``ns`` (a subset of ``grid``) as runs of consecutive grid points: "64-512, 4096"."""
    if not ns:
        return "none"
    runs, start, prev = [], ns[0], ns[0]
    for n in ns[1:]:
        if grid.index(n) != grid.index(prev) + 1:
            runs.append((start, prev))
            start = n
        prev = n
    runs.append((start, prev))
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


SUMMARY_HEADER = (
    "| manifold | D | trained copies none from n | trained below IDM c = 1 at n"
    " | IDM c = 1 below trained at n | trained below IDM c = auto at n"
    " | IDM c = auto below trained at n | cost trained / IDM c = 1 | cost trained / IDM c = auto |"
)


def summary(rows) -> list[dict]:
    """What the rows show, per manifold and D (:func:`summary_table`, :func:`summary_text`).

    * ``stops``: the smallest n from which the trained network's mean copy fraction is 0 at
      every larger n of the grid ("never": its copy fraction at the largest n);
    * ``below[m]``: the n where the network's plug-in W1 (in expectation an upper bound on its
      W1) is below the lower end of method m's bracket (means over seeds); ``above[m]``: the n
      where the upper end of m's bracket is below the network's distance to the manifold (a
      lower bound on its W1); at the other n the two overlap (m: idm, idm_auto);
    * ``cost[m]``: the median over cells of (training + sampling seconds of the network) /
      (m's sampling seconds, plus choosing c for idm_auto), the same cell's rows;
    * ``train_s``: the least and the most training seconds of a cell; ``c``: the least and
      the most c idm_auto chose; ``guard``: its cells the guard decided, and its cells.

    idm_auto's entries are "—" (``c``, ``guard``: None) where its rows are missing.
    """
    g = _groups(rows)
    out = []
    for manifold, d, D in PANELS:
        grid = sorted({k[4] for k in g if k[:3] == (manifold, d, D)})
        grid = [n for n in grid if all(g.get((manifold, d, D, m, n)) for m in REQUIRED)]
        if not grid:
            continue
        cell = {(m, n): g.get((manifold, d, D, m, n), []) for m in METHODS for n in grid}
        auto = all(cell[("idm_auto", n)] for n in grid)
        copies = [_mean(cell[("trained", n)], "copy_fraction") for n in grid]
        free = [n for i, n in enumerate(grid) if not any(copies[i:])]
        stops = str(free[0]) if free else f"never ({_percent(copies[-1])} at {grid[-1]})"
        below, above, cost = {"idm_auto": DASH}, {"idm_auto": DASH}, {"idm_auto": DASH}
        for m in ("idm", "idm_auto") if auto else ("idm",):
            below[m] = _ns([n for n in grid if _mean(cell[("trained", n)], "w1")
                            < _mean(cell[(m, n)], "w1_lower")], grid)  # fmt: skip
            above[m] = _ns([n for n in grid if _mean(cell[(m, n)], "w1_upper")
                            < _mean(cell[("trained", n)], "manifold_distance")], grid)  # fmt: skip
            ratios = []
            for n in grid:
                by_seed = {r.seed: r for r in cell[(m, n)]}
                for t in cell[("trained", n)]:
                    r = by_seed[t.seed]
                    idm_s = r.sample_s + (r.select_s if m == "idm_auto" else 0.0)
                    ratios.append((t.train_s + t.sample_s) / idm_s)
            cost[m] = f"{np.median(ratios):.{0 if m == 'idm' else 1}f}"
        trained_s = [r.train_s for n in grid for r in cell[("trained", n)]]
        autos = [r for n in grid for r in cell[("idm_auto", n)]]
        out.append(dict(
            name="S^1" if manifold == "circle" else f"S^{d}", D=D, stops=stops, below=below,
            above=above, cost=cost, train_s=(min(trained_s), max(trained_s)),
            c=(min(r.c for r in autos), max(r.c for r in autos)) if auto else None,
            guard=(sum(r.c_by == "guard" for r in autos), len(autos)) if auto else None,
        ))  # fmt: skip
    return out


def summary_table(rows) -> str:
    """:func:`summary` as the README's table (it prints it as it is)."""
    lines = [SUMMARY_HEADER, "|---|---|---|---|---|---|---|---|---|"]
    for p in summary(rows):
        lines.append(
            f"| {p['name']} | {p['D']} | {p['stops']} | {p['below']['idm']} | "
            f"{p['above']['idm']} | {p['below']['idm_auto']} | {p['above']['idm_auto']} | "
            f"{p['cost']['idm']} | {p['cost']['idm_auto']} |"
        )
    return "\n".join(lines)


SUMMARY_TEXT_START = "**What the grid's rows say**"


def _at(ns: str) -> str:
    return "at no n" if ns == "none" else f"at n = {ns}"


def summary_text(rows) -> str:
    """The README's paragraph on the D = 100 rows (:func:`summary`), one line per sentence.

    Starts with :data:`SUMMARY_TEXT_START`; ``--readme`` replaces that paragraph, and
    tests/test_readme_numbers.py checks it, so its numbers are the rows'.
    """
    ps = {p["name"]: p for p in summary(rows) if p["D"] == 100}
    if set(ps) != {"S^1", "S^2"} or any(p["c"] is None for p in ps.values()):
        return f"{SUMMARY_TEXT_START} (D = 100, from `results/trained/`): not run yet."
    c1, s2 = ps["S^1"], ps["S^2"]

    def pair(key, m):
        return f"{_at(c1[key][m])} on S^1 and {_at(s2[key][m])} on S^2"

    lo = min(p["c"][0] for p in ps.values())
    hi = max(p["c"][1] for p in ps.values())
    guard = sum(p["guard"][0] for p in ps.values())
    cells = sum(p["guard"][1] for p in ps.values())
    t_lo = min(p["train_s"][0] for p in ps.values())
    t_hi = max(p["train_s"][1] for p in ps.values())
    return "\n".join([
        f"{SUMMARY_TEXT_START} (D = 100, from `results/trained/`, the table above):",
        f"c=auto chose c = {lo:.2f}-{hi:.2f} (the memorization guard decided {guard} of "
        f"{cells} cells, the held-out criterion the rest).",
        f"The trained network copies none of its samples from n = {c1['stops']} on S^1 and "
        f"from n = {s2['stops']} on S^2 (mean over seeds, at every larger n).",
        f"Its plug-in W1 is below IDM's bracket at c = 1 {pair('below', 'idm')}, and below "
        f"IDM's at c = auto {pair('below', 'idm_auto')};",
        f"IDM's bracket is below the network's lower bound at c = 1 {pair('above', 'idm')}, "
        f"and at c = auto {pair('above', 'idm_auto')}.",
        f"Training it costs {t_lo:.0f}-{t_hi:.0f} s per cell here; with its sampling, a median "
        f"{c1['cost']['idm']} (S^1) and {s2['cost']['idm']} (S^2) times IDM's sampling at "
        f"c = 1, and {c1['cost']['idm_auto']} and {s2['cost']['idm_auto']} times IDM's choice "
        f"of c and sampling at c = auto.",
    ])  # fmt: skip


def _panel(ax, xs, ys, es, **kw):
    ax.errorbar(xs, ys, yerr=np.nan_to_num(es), **kw)


def figure(rows, path: Path) -> None:
    """trained.png: W1, copy fraction and NN ratio against n, one column per (manifold, D)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from experiments.figures.style import COLORS, MARKERS

    g = _groups(rows)
    legend = {}  # label -> handle, over every panel (a panel may lack a method)
    fig, axes = plt.subplots(3, len(PANELS), figsize=(3.3 * len(PANELS), 8.4), squeeze=False,
                             sharex=True)  # fmt: skip
    for j, (manifold, d, D) in enumerate(PANELS):
        top, mid, bottom = axes[:, j]
        name = "S^1" if manifold == "circle" else f"S^{d}"
        top.set_title(f"{name} in D = {D}", fontsize=9)
        any_rows = False
        for m in METHODS:
            ns = sorted(k[4] for k in g if k[:4] == (manifold, d, D, m))
            if not ns:
                continue
            any_rows = True
            cells = [g[(manifold, d, D, m, n)] for n in ns]

            def col(key, cells=cells):
                v = [[getattr(r, key) for r in c] for c in cells]
                return [np.mean(x) for x in v], [_se(x) for x in v]

            kw = dict(color=COLORS[m], marker=MARKERS[m], ms=4, capsize=2, lw=1.2)
            _panel(top, ns, *col("w1"), label=LABELS[m], **kw)
            _panel(mid, ns, *col("copy_fraction"), **kw)
            ratio, ratio_se = col("nn_ratio_median")
            if m != "train" and np.all(np.isfinite(ratio)):  # train: its own points, ratio 0
                _panel(bottom, ns, ratio, ratio_se, **kw)
            if m == "trained":
                top.plot(ns, col("w1_floor")[0], "--", color="0.5", lw=0.8,
                         label="plug-in floor (m = 2048)")  # fmt: skip
                top.plot(ns, col("manifold_distance")[0], ":", color=COLORS[m], lw=0.8,
                         label="trained: distance to manifold (lower bound)")  # fmt: skip
        for handle, label in zip(*top.get_legend_handles_labels(), strict=True):
            legend.setdefault(label, handle)
        if not any_rows:
            for ax in (top, mid, bottom):
                ax.text(0.5, 0.5, "not run", transform=ax.transAxes, ha="center", color="0.4")
        bottom.axhline(1 / 3, color="0.4", lw=0.8, ls="--")
        bottom.text(ns[0] if any_rows else 64, 1 / 3, " copy below 1/3", va="bottom",
                    fontsize=6, color="0.3")  # fmt: skip
        for ax in (top, mid, bottom):
            ax.set_xscale("log", base=2)
        bottom.set_xlabel("n")
        top.set_yscale("log")
        mid.set_yscale("symlog", linthresh=1e-3)  # a few percent copied beside train's 1
        mid.set_ylim(0, 1.3)
        bottom.set_ylim(0, 1.02)
        if j == 0:
            top.set_ylabel("W1 to the population")
            mid.set_ylabel("copy fraction (symlog)")
            bottom.set_ylabel("median NN / 2nd-NN distance")
    if legend:
        order = [LABELS[m] for m in METHODS if LABELS[m] in legend]
        order += [k for k in legend if k not in order]
        fig.legend([legend[k] for k in order], order, loc="lower center", ncol=3, fontsize=8,
                   frameon=False)  # fmt: skip
    fig.suptitle("Trained score network vs IDM (c = 1 and c = auto) vs the training set "
                 "(mean over 3 seeds ± SE)", fontsize=10)  # fmt: skip
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    fig.savefig(path, dpi=130)
    plt.close(fig)


def sync_readme(text: str, rows) -> str:
    """``text`` (the README) with its two trained tables and paragraph as the rows give them.

    The tables are found by their header lines (:data:`README_HEADER`, :data:`SUMMARY_HEADER`),
    the paragraph by its start (:data:`SUMMARY_TEXT_START`, to the next blank line), each
    exactly once; everything else is kept.
    """
    lines = text.splitlines()
    at = [i for i, line in enumerate(lines) if line.startswith(SUMMARY_TEXT_START)]
    if len(at) != 1:
        raise ValueError(f"{len(at)} README lines start with {SUMMARY_TEXT_START!r}")
    end = at[0]
    while end < len(lines) and lines[end].strip():
        end += 1
    lines[at[0] : end] = summary_text(rows).splitlines()
    for header, body in ((README_HEADER, readme_table), (SUMMARY_HEADER, summary_table)):
        at = [i for i, line in enumerate(lines) if line == header]
        if len(at) != 1:
            raise ValueError(f"{len(at)} README lines are the header {header!r}")
        end = at[0] + 1
        while end < len(lines) and lines[end].startswith("|"):
            end += 1
        lines[at[0] : end] = body(rows).splitlines()
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = preflight.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("sweep", nargs="?", default="results/trained")
    parser.add_argument(
        "--readme", metavar="PATH", help="also rewrite this README's two trained tables"
    )
    args = parser.parse_args(argv)
    sweep = Path(args.sweep)
    if not sweep.is_dir():
        preflight.fail(f"sweep: {sweep} is not a directory")
    rows = load_rows(sweep)
    figure(rows, sweep / "trained.png")
    md = "\n\n".join([
        table(rows),
        "The README's rows:",
        readme_table(rows),
        "What they show (summary_table):",
        summary_table(rows),
        summary_text(rows),
    ])  # fmt: skip
    (sweep / "trained.md").write_text(md + "\n")
    print(md)  # noqa: T201
    if args.readme:
        readme = Path(args.readme)
        readme.write_text(sync_readme(readme.read_text(), rows))


if __name__ == "__main__":
    main()
