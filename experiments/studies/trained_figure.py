"""Figure and table of ``experiment=trained``: W1 and copying against n, trained vs IDM vs train.

    python -m experiments.studies.trained_figure [SWEEP_DIR]   (default results/trained)

Reads every job of the sweep (its rows.csv, or, for a job still running or stopped, the cells
its checkpoint holds) and writes into SWEEP_DIR: trained.png (per manifold and D: W1 against n
on log axes, and the copy fraction against n, one line per method, the mean over seeds with
the standard error over seeds as the bar; the trained network's plug-in floor dashed and its
distance to the manifold, a lower bound on its W1, dotted) and trained.md (the table: mean W1
with each row's own error bar, copies, nearest-neighbour median, training seconds). No JAX.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path

import numpy as np

from experiments.helpers import preflight
from experiments.helpers import rows as rowlib

METHODS = ("idm", "train", "trained")
PANELS = (("circle", 1, 2), ("circle", 1, 100), ("sphere", 2, 3), ("sphere", 2, 100))


def load_rows(sweep: Path) -> list[rowlib.Row]:
    """Rows of every job under ``sweep``: finished jobs' rows.csv, else their checkpoint."""
    rows = []
    for job in sorted(p for p in sweep.iterdir() if p.is_dir()):
        if (job / "rows.csv").exists():
            rows += rowlib.read_csv(job / "rows.csv")
        elif (job / "partial.json").exists():
            saved = json.loads((job / "partial.json").read_text())
            nan = {k: math.nan for k in ("c", "train_s", "predicted_shrinkage",
                                          "radial_shrinkage", "w1_tangential")}  # fmt: skip
            for r in saved["rows"]:
                rows.append(rowlib.Row(**{k: (nan.get(k) if v is None else v)
                                          for k, v in r.items()}))  # fmt: skip
    return rows


def _groups(rows):
    g = defaultdict(list)
    for r in rows:
        g[(r.manifold, r.d, r.D, r.method, r.n)].append(r)
    return g


def _se(v):
    v = np.asarray(v, float)
    return float(v.std(ddof=1) / math.sqrt(len(v))) if len(v) > 1 else math.nan


def table(rows) -> str:
    """Markdown table: per (manifold, D, n) the three methods side by side.

    Means over seeds; idm and train with the mean half-width of their law brackets; the
    trained network's plug-in with its floor, and its distance to the manifold (a lower bound
    on its W1).
    """
    g = _groups(rows)
    lines = [
        "| manifold | D | n | seeds | W1 idm (c=1) | W1 train | W1 trained: plug-in (floor)"
        " | trained: lower bound | trained copies | trained NN median | train s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for manifold, d, D in PANELS:
        ns = sorted({k[4] for k in g if k[:3] == (manifold, d, D)})
        for n in ns:
            cell = {m: g.get((manifold, d, D, m, n), []) for m in METHODS}
            if not all(cell.values()):
                continue
            seeds = min(len(v) for v in cell.values())

            def w(m, cell=cell):
                v = [r.w1 for r in cell[m]]
                e = np.mean([r.w1_error for r in cell[m]])
                return f"{np.mean(v):.4f} ± {e:.4f}"

            tr = cell["trained"]
            ratio = [r.nn_median for r in tr]  # (nn_ratio_median: rows written after this study)
            lines.append(
                f"| {manifold} | {D} | {n} | {seeds} | {w('idm')} | {w('train')} | "
                f"{np.mean([r.w1 for r in tr]):.4f} ({np.mean([r.w1_floor for r in tr]):.3f}) | "
                f"{np.mean([r.manifold_distance for r in tr]):.4f} | "
                f"{np.mean([r.copy_fraction for r in tr]):.3f} | {np.mean(ratio):.3f} | "
                f"{np.mean([r.train_s for r in tr]):.0f} |"
            )
    return "\n".join(lines)


#: The README's rows: (manifold, d, D, n).
README_PICKS = (
    *(("circle", 1, 100, n) for n in (64, 512, 4096)),
    *(("sphere", 2, 100, n) for n in (64, 128, 512, 4096)),
)
README_HEADER = (
    "| manifold | n | W1 IDM | W1 train | W1 trained: plug-in (floor) | trained: lower bound"
    " | trained copies | train s |"
)


def readme_table(rows) -> str:
    """The README's table (D = 100, means over seeds), exactly as printed there."""
    g = _groups(rows)
    lines = [README_HEADER, "|---|---|---|---|---|---|---|---|"]
    for manifold, d, D, n in README_PICKS:
        cell = {m: g.get((manifold, d, D, m, n), []) for m in METHODS}
        if not all(cell.values()):
            continue

        def bracket(m, cell=cell):
            return (f"{np.mean([r.w1 for r in cell[m]]):.3f} ± "
                    f"{np.mean([r.w1_error for r in cell[m]]):.3f}")  # fmt: skip

        tr = cell["trained"]
        copies = np.mean([r.copy_fraction for r in tr])
        lines.append(
            f"| S^{d} | {n} | {bracket('idm')} | {bracket('train')} | "
            f"{np.mean([r.w1 for r in tr]):.3f} ({np.mean([r.w1_floor for r in tr]):.3f}) | "
            f"{np.mean([r.manifold_distance for r in tr]):.3f} | "
            f"{'0' if copies == 0 else f'{100 * copies:.1f}%'} | "
            f"{np.mean([r.train_s for r in tr]):.0f} |"
        )
    return "\n".join(lines)


def figure(rows, path: Path) -> None:
    """trained.png: W1 (top) and copy fraction (bottom) against n, one column per (manifold, D)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from experiments.figures.style import COLORS, MARKERS

    g = _groups(rows)
    legend = False
    fig, axes = plt.subplots(2, len(PANELS), figsize=(3.2 * len(PANELS), 5.6), squeeze=False)
    for j, (manifold, d, D) in enumerate(PANELS):
        top, bottom = axes[0, j], axes[1, j]
        name = "S^1" if manifold == "circle" else f"S^{d}"
        top.set_title(f"{name} in D = {D}", fontsize=9)
        any_rows = False
        for m in METHODS:
            ns = sorted(k[4] for k in g if k[:4] == (manifold, d, D, m))
            if not ns:
                continue
            any_rows = True
            w = [np.mean([r.w1 for r in g[(manifold, d, D, m, n)]]) for n in ns]
            we = [_se([r.w1 for r in g[(manifold, d, D, m, n)]]) for n in ns]
            cf = [np.mean([r.copy_fraction for r in g[(manifold, d, D, m, n)]]) for n in ns]
            ce = [_se([r.copy_fraction for r in g[(manifold, d, D, m, n)]]) for n in ns]
            label = {"idm": "IDM (c = 1)", "train": "training set",
                     "trained": "trained network (plug-in)"}[m]  # fmt: skip
            kw = dict(color=COLORS[m], marker=MARKERS[m], ms=4, capsize=2, lw=1.2)
            top.errorbar(ns, w, yerr=np.nan_to_num(we), label=label, **kw)
            bottom.errorbar(ns, cf, yerr=np.nan_to_num(ce), **kw)
            if m == "trained":
                fl = [np.mean([r.w1_floor for r in g[(manifold, d, D, m, n)]]) for n in ns]
                lo = [np.mean([r.manifold_distance for r in g[(manifold, d, D, m, n)]])
                      for n in ns]  # fmt: skip
                top.plot(ns, fl, "--", color="0.5", lw=0.8, label="plug-in floor (m = 2048)")
                top.plot(ns, lo, ":", color=COLORS[m], lw=0.8,
                         label="trained: distance to manifold (lower bound)")  # fmt: skip
        if not any_rows:
            top.text(0.5, 0.5, "not run", transform=top.transAxes, ha="center", color="0.4")
            bottom.text(0.5, 0.5, "not run", transform=bottom.transAxes, ha="center", color="0.4")
        for ax in (top, bottom):
            ax.set_xscale("log", base=2)
            ax.set_xlabel("n")
        top.set_yscale("log")
        bottom.set_ylim(-0.02, 1.02)
        if j == 0:
            top.set_ylabel("W1 to the population")
            bottom.set_ylabel("copy fraction")
        if any_rows and not legend:
            top.legend(fontsize=6)
            legend = True
    fig.suptitle("Trained score network vs IDM vs the training set (mean over seeds ± SE)",
                 fontsize=10)  # fmt: skip
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)


def main(argv=None):
    parser = preflight.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("sweep", nargs="?", default="results/trained")
    args = parser.parse_args(argv)
    sweep = Path(args.sweep)
    if not sweep.is_dir():
        preflight.fail(f"sweep: {sweep} is not a directory")
    rows = load_rows(sweep)
    figure(rows, sweep / "trained.png")
    md = table(rows) + "\n\nThe README's rows:\n\n" + readme_table(rows)
    (sweep / "trained.md").write_text(md + "\n")
    print(md)  # noqa: T201


if __name__ == "__main__":
    main()
