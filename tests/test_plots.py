"""Figures stay readable at the smallest sweep: two n values, one seed, a single spike."""

import math

import matplotlib.pyplot as plt
import numpy as np
import pytest

from experiments import plots
from experiments.helpers.fits import fit_table
from experiments.helpers.rows import NearestRow, Row, columns


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

    def keep(fig, path):
        fig.canvas.draw()
        figs.append(fig)

    monkeypatch.setattr(plots, "_save", keep)
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
    fits = fit_table(rows, n_boot=100)
    assert all(math.isnan(v) for f in fits for v in f["ci"])  # OLS at two points: no interval
    plots.rate_figure(rows, fits, tmp_path / "rate.png")
    (fig,) = drawn
    (ax,) = fig.axes  # no panel of local slopes: two n give one slope, the exponent itself
    assert _labels(ax.xaxis) == ["16", "32"]
    text = _texts(fig)
    assert "nan" not in text
    assert "no interval: 1 seed at 2 n" in text


def test_slope_panels_say_why_they_are_empty(drawn, tmp_path):
    """A panel with 3 n has slopes; its neighbour with 2 n says why it has none."""
    rows = _rows([16, 24, 32], seeds=2) + _rows([16, 32], seeds=2, manifold="sphere", d=2)
    plots.rate_figure(rows, fit_table(rows, n_boot=100), tmp_path / "rate.png")
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
