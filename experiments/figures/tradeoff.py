"""The trade-off app's figures: copy fraction against held-out W1, and sample grids.

Drawn from the app's rows and summary (``tradeoff.png``) and, for image data, from samples the
app hands over (``samples.png``).
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from experiments.figures import style
from experiments.figures.style import COLORS, PART_COLORS

__all__ = ["sample_grid", "tradeoff_figure"]


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
            ax.plot(x, y, "-" + style.marker(method), color=style.color(method), ms=4,
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
                    color=PART_COLORS["reference"], ms=11,
                    label="idm at c=auto (each split)")  # fmt: skip
        ax.axvline(summary["w1_floor"], color=PART_COLORS["sample_floor"], ls=":", lw=1,
                   label="floor: W1 between halves of the test split")  # fmt: skip
        if key == "copy_fraction":
            ax.axhline(
                max_copy, color=PART_COLORS["guard"], ls="--", lw=0.8, label=f"guard {max_copy:g}"
            )
            ax.set_yscale("symlog", linthresh=1e-3)
            ax.set_ylim(0, 1.5)
        elif math.isfinite(summary.get("test_confident", math.nan)):
            ax.axhline(summary["test_confident"], color=PART_COLORS["held_out"], ls="--", lw=0.8,
                       label="held-out images")  # fmt: skip
        ax.set(xlabel="held-out W1 to the test split (exact)", ylabel=ylabel)
        ax.set_xlim(*xlim)
        ax.legend(fontsize=7)
    style.save(fig, path)


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
    style.save(fig, path)
