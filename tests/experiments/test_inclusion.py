"""The inclusion rules of the rate fits, and the rule-free fit reproducing the committed fits."""

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from experiments.helpers import fits, inclusion, store
from experiments.helpers import rows as rowlib
from experiments.helpers.schemas import FitConfig
from idm.rates import fit_rate

RESULTS = Path(__file__).resolve().parents[2] / "results"


@pytest.mark.parametrize("name", ["default", "trained"])
def test_fit_table_reproduces_the_committed_fits(name):
    """The rule-free fit with the inclusion module's keep mask gives every committed number.

    results/default is judged by error bars only; results/trained adds a plug-in method judged
    by the floor. The settings are the ones the summary recorded.
    """
    summary = json.loads((RESULTS / name / "summary.json").read_text())
    rows, _, _ = rowlib.read_job(RESULTS / name)
    table = fits.fit_table(rows, inclusion.recorded_settings(summary))
    assert json.loads(store.dumps(table)) == summary["fits"]


def test_keep_mask_fit_equals_the_fit_of_the_kept_points():
    """A keep mask is the same fit as the kept points alone (same bootstrap draws)."""
    rows, _, _ = rowlib.read_job(RESULTS / "default")
    grp = [r for r in rows if (r.manifold, r.method) == ("sphere", "train")]
    ns, vals, _, rel, _ = fits._matrix(grp, "w1")
    keep = inclusion.tight_error_bars(rel, 0.1)
    assert 2 <= keep.sum() < len(ns)  # the rule drops some points here
    masked = fit_rate(ns, vals, keep=keep, n_boot=300)
    alone = fit_rate(ns[keep], vals[keep], n_boot=300)
    assert dataclasses.replace(masked, dropped=()) == alone
    assert masked.dropped == tuple(int(n) for n in ns[~keep])


def test_the_rules():
    assert inclusion.above_floor(
        np.array([[3.0, 5.0], [1.0, 1.0]]), np.ones((2, 2)), 2.0
    ).tolist() == [
        True,
        False,
    ]
    assert inclusion.tight_error_bars([0.05, 0.1, 0.2], 0.1).tolist() == [True, False, False]
    with pytest.raises(ValueError, match="floors must be finite"):
        inclusion.above_floor(np.ones((2, 1)), np.array([1.0, np.nan]), 2.0)
    chosen = inclusion.select(
        np.array([8, 16]), np.ones((2, 1)), np.ones((2, 1)), None, error_bar=False,
        settings=FitConfig(floor_factor=2.0),
    )  # fmt: skip
    assert chosen.rule == "mean W1 > 2 x floor"
    assert chosen.too_few.startswith(
        "fewer than two points above 2.0 x the floor (dropped n = [8, 16])"
    )


def test_recorded_settings_are_read_back_and_must_agree():
    merged = {"fit_settings": {"floor_factor": 3.0, "max_rel_error": 0.2, "n_boot": 50}}
    job = {"config": {"fit": {"floor_factor": 3.0, "n_boot": 50}}}  # older jobs: no max_rel_error
    assert inclusion.recorded_settings(merged) == FitConfig(3.0, 0.2, 50)
    assert inclusion.recorded_settings(job) == FitConfig(floor_factor=3.0, n_boot=50)
    assert inclusion.recorded_settings(None) == FitConfig()
    assert inclusion.jobs_settings([job, job]) == FitConfig(floor_factor=3.0, n_boot=50)
    with pytest.raises(ValueError, match="different settings"):
        inclusion.jobs_settings([job, merged])
