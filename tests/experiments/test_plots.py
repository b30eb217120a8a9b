"""Figures stay readable at the smallest sweep: two n values, one seed, a single spike."""

import math
from dataclasses import replace as dataclasses_replace

import matplotlib.pyplot as plt
import numpy as np
import pytest

from experiments.figures import rate as plots
from experiments.figures import style
from experiments.helpers.fits import fit_table
from experiments.helpers.rows import NearestRow, Row, columns
from experiments.helpers.schemas import FitConfig

SETTINGS = FitConfig(n_boot=100)


def _rows(ns, seeds=1, manifold="circle", d=1, methods=("idm", "train")):
    """Plug-in rows with W1 = n^-0.4 well above the floor (every point enters the fit)."""
    blank = {f: math.nan for f in columns(Row)}
    blank.update(experiment="t", evaluator="exact", reference="grid", m=64, m_ref=64, n_iters=0)
    blank.update(w1_kind="plugin", evaluation="ambient", w1_parts="", converged=True)
    return [
        Row(**{**blank, **dict(
            manifold=manifold, d=d, D=100, method=method, n=n, seed=s, c=1.0, sigma=0.3,
            w1=n**-0.4 * (1 + 0.01 * s), w1_floor=1e-6, w1_error=1e-7, manifold_distance=0.1,
        )})
        for n in ns
        for s in range(seeds)
        for method in methods
    ]  # fmt: skip


@pytest.fixture
def drawn(monkeypatch):
    """The figures the plots module would save, drawn and kept open for inspection."""
    figs = []

    def keep(fig, path, **_):
        fig.canvas.draw()
        figs.append(fig)

    monkeypatch.setattr(style, "save", keep)
    yield figs
    for fig in figs:
        plt.close(fig)


def _labels(axis) -> list[str]:
    return [t.get_text() for t in axis.get_ticklabels() if t.get_text()]


def _texts(fig) -> str:
    legends = [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().texts]
    return "\n".join(legends + [t.get_text() for ax in fig.axes for t in ax.texts])


def test_two_n_one_seed_rate_figure_is_labelled_and_honest(drawn, tmp_path):
    rows = _rows([16, 32])
    fits = fit_table(rows, SETTINGS)
    assert all(math.isnan(v) for f in fits for v in f["ci"])  # OLS at two points: no interval
    plots.rate_figure(rows, fits, tmp_path / "rate.png", SETTINGS)
    (fig,) = drawn
    (ax,) = fig.axes  # no panel of local slopes: two n give one slope, the exponent itself
    assert _labels(ax.xaxis) == ["16", "32"]
    text = _texts(fig)
    assert "nan" not in text
    assert "no interval: 1 seed at 2 n" in text


def test_slope_panels_say_why_they_are_empty(drawn, tmp_path):
    """A panel with 3 n has slopes; its neighbour with 2 n says why it has none."""
    rows = _rows([16, 24, 32], seeds=2) + _rows([16, 32], seeds=2, manifold="sphere", d=2)
    plots.rate_figure(rows, fit_table(rows, SETTINGS), tmp_path / "rate.png", SETTINGS)
    (fig,) = drawn
    top_circle, top_sphere, slopes_circle, slopes_sphere = fig.axes
    assert _labels(top_circle.xaxis) == ["16", "24", "32"]
    assert _labels(slopes_circle.xaxis)  # the pairs' middles
    assert slopes_circle.lines
    assert not slopes_sphere.axison
    assert "local slopes need >= 3 n values (this panel has 2)" in _texts(fig)
    assert "[" in _texts(fig)  # two seeds: the fits have intervals


def test_memorization_histogram_spans_the_distances_present(drawn, tmp_path):
    near = [NearestRow("circle", 1, 100, "idm", 32, 0, v, 2 * v) for v in (0.2, 0.3, 0.31)]
    assert plots.memorization_figure(near, [], tmp_path / "m.png")
    ax = drawn[0].axes[0]
    lo, hi = ax.get_xlim()
    assert 0.1 < lo < 0.2  # one spike: no empty decades down to 1e-12
    assert 0.31 < hi < 0.5
    assert _labels(ax.xaxis)
    assert "below" not in ax.get_xlabel()


def test_memorization_histogram_reaches_exact_copies(drawn, tmp_path):
    near = [NearestRow("circle", 1, 100, "dm", 32, 0, v, 0.5) for v in (0.0, 0.0, 0.2)]
    near += [NearestRow("circle", 1, 100, "idm", 32, 0, v, 0.5) for v in (0.1, 0.2, 0.3)]
    assert plots.memorization_figure(near, [], tmp_path / "m.png")
    ax = drawn[0].axes[0]
    assert ax.get_xlim()[0] < plots._ZERO < ax.get_xlim()[1]
    assert "below 1e-12 drawn at 1e-12" in ax.get_xlabel()
    assert np.isclose(sum(p.get_height() for p in ax.patches), 6)


def _copy_run(src, dst, edit):
    """rows.csv and an edited summary.json of a committed run, in ``dst``."""
    import json
    import shutil

    from experiments.helpers import store

    shutil.copy(src / "rows.csv", dst / "rows.csv")
    summary = json.loads((src / "summary.json").read_text())
    edit(summary)
    store.write_json(dst / "summary.json", summary)
    return summary


def _line_through(ax, x, y) -> bool:
    return any(
        len(line.get_xdata()) == len(x)
        and np.allclose(line.get_xdata(), x)
        and np.allclose(line.get_ydata(), y, rtol=1e-12)
        for line in ax.lines
    )


def test_redrawn_figure_draws_the_summary_fits_and_rule(drawn, tmp_path):
    """plots.redraw draws the fit table and settings summary.json recorded, with no refit.

    In a copy of results/trained, the recorded floor factor and one recorded fit are changed:
    the drawn floor-rule line and fitted line follow the summary, not the rows.
    """
    from pathlib import Path

    from experiments import plots as cli

    src = Path(__file__).resolve().parents[2] / "results" / "trained"

    key = ("circle", 100, "trained")

    def edit(summary):
        summary["fit_settings"]["floor_factor"] = 5.0
        f = next(f for f in summary["fits"] if (f["manifold"], f["D"], f["method"]) == key)
        f.update(exponent=-0.9, intercept=1.5)

    summary = _copy_run(src, tmp_path, edit)
    assert "rate.png" in cli.redraw(tmp_path)
    fig = drawn[0]
    circle = next(ax for ax in fig.axes if ax.get_title() == "circle (d = 1, D = 100)")
    f = next(f for f in summary["fits"] if (f["manifold"], f["D"], f["method"]) == key)
    xu = np.array(f["ns_used"], float)
    assert _line_through(circle, xu, np.exp(1.5) * xu**-0.9)  # the edited fit, as recorded
    texts = "\n".join(t.get_text() for t in circle.get_legend().texts)
    assert "trained: -0.900" in texts
    fig_legend = "\n".join(t.get_text() for leg in fig.legends for t in leg.texts)
    assert "5x trained floor" in fig_legend
    floors = [
        ln
        for ln in circle.lines
        if ln.get_linestyle() == "--" and ln.get_label().startswith("trained plug-in")
    ]
    (floor,) = floors
    assert _line_through(circle, floor.get_xdata(), 5.0 * floor.get_ydata())
    # The bracket evaluator ran in every panel: no grey band, and titles name the circle.
    assert not any(
        c.get_label() == "plug-in floor (mean)" for ax in fig.axes for c in ax.collections
    )
    assert {ax.get_title() for ax in fig.axes} >= {"circle (d = 1, D = 2)", "sphere (d = 2, D = 3)"}


def test_sphere_d1_is_titled_circle_and_bracket_panels_have_no_floor_band(drawn, tmp_path):
    rows = [
        dataclasses_replace(r, manifold="sphere", w1_kind="bracket", evaluator="bracket")
        for r in _rows([16, 32, 64], seeds=2)
    ]
    plots.rate_figure(rows, fit_table(rows, SETTINGS), tmp_path / "rate.png", SETTINGS)
    top = drawn[0].axes[0]
    assert top.get_title() == "circle (d = 1)"
    assert not top.collections or all(
        c.get_label() != "plug-in floor (mean)" for c in top.collections
    )
    plain = _rows([16, 32, 64], seeds=2)  # plug-in rows: the floor band is drawn
    plots.rate_figure(plain, fit_table(plain, SETTINGS), tmp_path / "rate.png", SETTINGS)
    assert any(c.get_label() == "plug-in floor (mean)" for c in drawn[1].axes[0].collections)


def test_redraw_refuses_a_directory_without_a_fit_table(tmp_path):
    from experiments import plots as cli

    with pytest.raises(FileNotFoundError, match="experiments.collect"):
        cli.redraw(tmp_path)
