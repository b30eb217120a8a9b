"""The rate app's fit table (experiments.helpers.fits): which points it fits and what it reports."""

import dataclasses

import numpy as np
import pytest

from experiments.helpers.schemas import FitConfig

NS = 2.0 ** np.arange(7, 14)  # the CPU default grid, 2^7 .. 2^13


def _rows(method, distance, *, seeds=5, noise=0.02, seed=0):
    """Rate-app rows with a given mean distance to the manifold (w1 well above its floor)."""
    from experiments.helpers.rows import Row, columns

    rng = np.random.default_rng(seed)
    blank = {f: float("nan") for f in columns(Row)}
    blank.update(experiment="t", evaluator="exact", reference="grid", m=64, m_ref=64, n_iters=0)
    blank.update(w1_kind="plugin", evaluation="ambient", w1_parts="")
    return [
        Row(**{**blank, **dict(
            manifold="circle", d=1, D=100, method=method, n=int(n), seed=s, c=1.0,
            w1=float(n) ** -0.4, w1_floor=1e-6, converged=True,
            manifold_distance=distance(n) * (1 + noise * rng.standard_normal()),
        )})
        for n in NS
        for s in range(seeds)
    ]  # fmt: skip


def test_fit_table_fits_the_floor_free_distance_to_the_manifold():
    """IDM's mean distance to the manifold gets its own fit: a planted -0.4 is recovered, and a
    sigma^4-like correction (1 + 3 n^-0.4) shows as an upper-half slope closer to -0.4."""
    from experiments.helpers.fits import fit_table

    (pure,) = fit_table(_rows("idm", lambda n: 0.7 * n**-0.4), FitConfig(n_boot=500))
    b = pure["distance_to_manifold"]
    assert b["ci"][0] <= -0.4 <= b["ci"][1]
    assert b["ns_used"] == list(NS)
    (corr,) = fit_table(
        _rows("idm", lambda n: 0.7 * n**-0.4 * (1 + 3 * n**-0.4)), FitConfig(n_boot=500)
    )
    halves = corr["distance_to_manifold"]["local_slopes"]
    assert abs(halves["upper"]["exponent"] + 0.4) < abs(halves["lower"]["exponent"] + 0.4)
    (train,) = fit_table(_rows("train", lambda n: 1e-3), FitConfig(n_boot=500))
    assert "distance_to_manifold" not in train


def test_pairwise_slopes_recover_a_planted_exponent_per_doubling():
    from idm.rates import pairwise_slopes

    rng = np.random.default_rng(3)
    ns = 2.0 ** np.arange(7, 14)
    errors = ns[:, None] ** -0.4 * np.exp(0.03 * rng.standard_normal((len(ns), 8)))
    pairs = pairwise_slopes(ns, errors, n_boot=500)
    assert [(p.n_lo, p.n_hi) for p in pairs] == list(zip(ns[:-1], ns[1:], strict=True))
    covered = sum(p.ci[0] <= -0.4 <= p.ci[1] for p in pairs)
    assert covered >= len(pairs) - 1  # 95% intervals: at most one of six misses, here
    for p in pairs:
        assert abs(p.slope + 0.4) < 5 * p.se


def test_fit_uses_only_points_whose_error_bar_is_small():
    """Law-evaluator rows: an n where a seed's error bar passes 10% of its value is left out."""
    from experiments.helpers.fits import fit_table

    rows = [
        dataclasses.replace(r, w1_kind="bracket", w1_error=(0.3 if r.n == NS[-1] else 0.01) * r.w1)
        for r in _rows("idm", lambda n: 0.7 * n**-0.4)
    ]
    (entry,) = fit_table(rows, FitConfig(n_boot=200, max_rel_error=0.1))
    assert entry["ns_used"] == [int(n) for n in NS[:-1]]
    assert entry["dropped"] == [int(NS[-1])]
    assert entry["rel_errors"][str(int(NS[-1]))] == pytest.approx(0.3)
    assert len(entry["slopes_per_doubling"]) == len(NS) - 2
