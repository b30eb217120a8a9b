"""The rate app's (n, seed) cells (experiments.helpers.cells): rows independent of the grid,
resumed cells, nearest distances.
"""

import pytest
import strict_json
from rate_configs import tiny

from experiments import rate
from experiments.helpers import cells, evaluation
from idm.samplers import METHODS


def test_rows_do_not_depend_on_the_rest_of_the_grid(tmp_path):
    """fold_in keys: the rows of n = 16 are the same whether or not n = 32 is in the grid."""
    base = ["figures=false", "method=all"]
    one = rate.run(rate.to_run_config(tiny([*base, "sweep.ns=[16]"])), tmp_path / "a")
    two = rate.run(rate.to_run_config(tiny([*base, "sweep.ns=[16,32]"])), tmp_path / "b")
    keys = ("method", "n", "seed", "w1", "w1_floor", "copy_fraction", "nn_median")
    pick = lambda rows: [tuple(getattr(r, k) for k in keys) for r in rows if r.n == 16]  # noqa: E731
    assert pick(one) == pick(two)
    assert len(pick(one)) == 2 * len(METHODS)  # 2 seeds, every method


def test_skip_existing_returns_saved_rows(tmp_path):
    """Also the smallest sweep that fits: one seed at two n (the README's small example)."""
    rc = rate.to_run_config(tiny(["sweep.ns=[16,32]", "sweep.seeds=1"]))
    first = rate.run(rc, tmp_path)
    stamp = (tmp_path / "summary.json").stat().st_mtime_ns
    again = rate.run(rc, tmp_path)
    assert (tmp_path / "summary.json").stat().st_mtime_ns == stamp
    assert [r.w1 for r in again] == [r.w1 for r in first]
    # Two points and one seed leave an OLS fit no degrees of freedom: its interval is NaN,
    # written as null (strict JSON), and the figures drawn from it say so.
    assert strict_json.check_tree(tmp_path)
    parts = [strict_json.loads(r.w1_parts) for r in first if r.w1_parts]  # JSON in rows.csv
    assert parts
    summary = strict_json.loads((tmp_path / "summary.json").read_text())
    assert [None, None] in [f.get("ci") for f in summary["fits"]]
    assert (tmp_path / "rate.png").exists()


@pytest.mark.parametrize("method", ["idm", "dm", "kde"])
def test_fast_nearest_distances_match_metrics(key, method):
    """The index in frame coordinates gives the nearest distances and copies in R^D."""
    import jax
    import numpy as np

    import idm
    from idm import manifolds, memorization

    man = manifolds.get("circle", d=1, D=30, key=key)
    data = man.sample(jax.random.fold_in(key, 1), 300)
    x = idm.sample(jax.random.fold_in(key, 2), data, 200, method=method, d=1, solver="exact",
                   t_end=1e-12)  # fmt: skip
    training = memorization.TrainingIndex(evaluation.frame_coordinates(man, data))
    fast = cells.nearest_in_frame(man, x, training)
    report = memorization.memorization_report(x, data)
    np.testing.assert_allclose(fast, np.asarray(report.nearest), rtol=1e-9, atol=1e-12)
    copies = training.is_copy(fast)
    assert float(np.mean(copies)) == pytest.approx(report.copy_fraction)
