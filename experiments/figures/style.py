"""What every figure shares: one palette, markers, panel titles, axis helpers, the writer.

Colours come from here only: :data:`COLORS` (one per method, matplotlib's default property
cycle ``C0``-``C6``, and ``C9`` for ``idm_auto``), :data:`VARIANT_COLORS` (a method at a
bandwidth constant c != 1 beside its c = 1 run) and :data:`PART_COLORS` (the parts of IDM's
W1 and the reference lines).
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from experiments.helpers import store  # noqa: E402
from experiments.helpers.fits import base_method  # noqa: E402

__all__ = [
    "COLORS",
    "MARKERS",
    "PART_COLORS",
    "VARIANT_COLORS",
    "color",
    "legend_below",
    "log_ticks",
    "marker",
    "note",
    "panel_title",
    "panels",
    "plain_log_label",
    "save",
]

# idm_auto (IDM at a c chosen per cell) takes idm's variant colour: IDM at another c.
COLORS = {"idm": "C0", "train": "C1", "dm": "C2", "early_stop": "C3", "kde": "C4", "cfdm": "C5",
          "trained": "C6", "idm_auto": "C9"}  # fmt: skip
VARIANT_COLORS = {"idm": "C9", "kde": "C6", "early_stop": "C8", "cfdm": "C7"}
PART_COLORS = {
    "tangential": "C8",  # IDM's W1 along the circle (C6 is the trained network's)
    "distance_slopes": "0.4",  # the distance to the manifold in the slope panels
    "reference": "k",  # predicted slopes and d/2 sigma^2
    "floor": "0.88",  # the plug-in floor band
    "floor_line": "0.6",  # floor_factor x the floor
    "sample_floor": "0.5",  # W1 between two samples of the population (crossover, trade-off)
    "held_out": "0.3",  # the held-out images' classifier score (trade-off)
    "guard": "C3",  # the trade-off's copy-fraction guard
    "note": "0.3",  # text of an empty panel
}
MARKERS = {"idm": "o", "train": "s", "dm": "^", "early_stop": "v", "kde": "D", "cfdm": "P",
           "trained": "X", "idm_auto": "*"}  # fmt: skip


def color(label: str) -> str:
    """A method label's colour; a label ``"idm c=0.5"`` (c != 1) takes its variant colour."""
    base, _, c = label.partition(" c=")
    if c and float(c) != 1.0:
        return VARIANT_COLORS.get(base, "k")
    return COLORS.get(base, "k")


def marker(label: str) -> str:
    """A method label's marker."""
    return MARKERS.get(base_method(label), "o")


def panel_title(manifold: str, d: int, D: int | None = None) -> str:
    """``"circle (d = 1)"``, or with the ambient dimension ``"sphere (d = 2, D = 100)"``.

    The sphere S^1 is the circle and is named so.
    """
    name = "circle" if manifold == "sphere" and int(d) == 1 else manifold
    return f"{name} (d = {d}{'' if D is None else f', D = {D}'})"


def save(fig, path: str | Path, rect=None) -> None:
    """Lays out (within ``rect`` of the figure, if given), writes atomically and closes a figure.

    Every figure here ends this way.
    """
    fig.tight_layout(rect=rect)
    with store.atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=130, format=Path(path).suffix.lstrip("."))
    plt.close(fig)


def log_ticks(ax, values, *, most: int = 8) -> None:
    """Labels a log x axis whatever its span; minor tick labels off (they overlap).

    Where the values span two or more powers of ten, matplotlib's decades label the axis.
    Where one or none lies between them (n from 128 to 2048, two n in one decade), LogLocator
    labels one decade or nothing, so the values themselves become the ticks (at most ``most``
    of them, evenly thinned).
    """
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    v = np.unique([float(x) for x in values if np.isfinite(x) and x > 0])
    if v.size == 0:
        return
    powers = math.floor(math.log10(v[-1]) + 1e-9) - math.ceil(math.log10(v[0]) - 1e-9) + 1
    if powers >= 2:
        return
    v = v[np.unique(np.linspace(0, v.size - 1, min(most, v.size)).round().astype(int))]
    lo, hi = ax.get_xlim()
    ax.set_xlim(min(lo, v[0] / 1.05), max(hi, v[-1] * 1.05))  # every tick inside the panel
    ax.xaxis.set_major_locator(matplotlib.ticker.FixedLocator(v))
    ax.xaxis.set_major_formatter(
        matplotlib.ticker.FuncFormatter(lambda x, _: f"{x:.0f}" if x >= 1000 else f"{x:.3g}")
    )
    ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())


def plain_log_label(x: float, _pos=None) -> str:
    """``x`` as a plain number where its mantissa is 1, 2 or 5, else no label (no overlaps)."""
    if not x > 0:
        return ""
    mantissa = x / 10 ** math.floor(math.log10(x) + 1e-9)
    return f"{x:g}" if min(abs(mantissa - m) for m in (1, 2, 5)) < 1e-6 else ""


def legend_below(ax, fontsize: float = 7) -> None:
    """The axis's legend under its x label, where it covers no data."""
    ax.legend(fontsize=fontsize, loc="upper center", bbox_to_anchor=(0.5, -0.22), frameon=False)


def note(ax, text: str) -> None:
    """An axis that says why it has nothing to draw, instead of an empty frame."""
    ax.clear()
    ax.set_axis_off()
    ax.text(0.5, 0.5, textwrap.fill(text, 50), ha="center", va="center", fontsize=9,
            color=PART_COLORS["note"], transform=ax.transAxes)  # fmt: skip


def panels(n: int):
    """A grid of ``n`` panels, at most three a row; returns the figure and the axes, flat."""
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 4.2 * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, axes.flat
