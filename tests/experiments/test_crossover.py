"""The crossover study: IDM's bracket against its training set's, certified, resumable."""

import json
import math

import pytest
from refusals import assert_refused

from experiments import crossover
from experiments.helpers import preflight
from experiments.helpers.schemas import CrossoverConfig

TINY = dict(
    ds=(6,), ns=(400,), cs=(0.5, 1.0), seeds=1, auto=False, m_fresh=512, sphere_cells=128,
    dual_iterations=100, n_eval=4096, copy_samples=512, figures=False, progress=False,
)  # fmt: skip


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("crossover")
    cfg = CrossoverConfig(**TINY)
    return cfg, out, crossover.run(cfg, out)


def _rows(out):
    return json.loads((out / "cells" / "d6_n400_s0.json").read_text())["rows"]


def test_rows_carry_both_brackets_and_what_decided_them(tiny):
    cfg, out, summary = tiny
    rows = _rows(out)
    assert [r["c"] for r in rows] == [0.5, 1.0]
    for r in rows:
        assert set(r) == set(crossover.COLUMNS)
        assert r["idm_lower"] <= r["idm_w1"] <= r["idm_upper"]
        assert r["train_lower"] <= r["train_w1"] <= r["train_upper"]
        assert r["idm_lower_by"] in ("radial", "sphere", "semidiscrete")
        assert r["idm_upper_by"] == "sobolev"
        assert r["idm_lower"] <= r[r["idm_lower_by"] + "_lower"]  # its mean less z SE
        assert r["certified"] == (r["idm_upper"] < r["train_lower"])
        assert math.isclose(r["ratio_upper"], r["idm_upper"] / r["train_lower"])
    assert (out / "rows.csv").exists()
    assert (out / "summary.json").exists()
    assert (summary["rows"], summary["resumed_cells"]) == (2, 0)


def test_idm_at_small_c_is_certified_closer_than_its_training_set(tiny):
    """S^6, n = 400 (d > 4): at c = 0.5 IDM's upper bound lies below the training set's lower
    bound (measured 0.41 against 0.48); at c = 1 IDM's bias (d/2) sigma^2 is too large and its
    lower bound lies above the training set's (0.49 against 0.48 is not certified either way)."""
    _, out, _ = tiny
    by_c = {r["c"]: r for r in _rows(out)}
    assert by_c[0.5]["certified"], by_c[0.5]
    assert not by_c[1.0]["certified"], by_c[1.0]
    assert by_c[0.5]["copy_fraction"] < 0.05  # and it is not copying


def test_a_finished_cell_is_read_back_and_a_changed_one_recomputed(tiny, tmp_path):
    cfg, out, _ = tiny
    again = crossover.run(cfg, out)
    assert again["resumed_cells"] == 1
    assert again["table"] == tiny[2]["table"]
    other = CrossoverConfig(**dict(TINY, m_fresh=256))
    assert crossover.load_cell(other, out, 6, 400, 0) is None
    assert crossover.cell_hash(other, 6, 400, 0) != crossover.cell_hash(cfg, 6, 400, 0)
    # fields that only pick cells do not enter a cell's hash
    wider = CrossoverConfig(**dict(TINY, ds=(5, 6), ns=(400, 800), seeds=2, figures=True))
    assert crossover.load_cell(wider, out, 6, 400, 0) == crossover.load_cell(cfg, out, 6, 400, 0)


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["cs=[-0.5]"], "cs"),
        (["ds=[1]"], "ds"),
        (["ns=[8]"], "ns"),
        (["seeds=0"], "seeds"),
        (["max_n={x: 10}"], "max_n"),
        (["sede=3"], "sede"),  # misspelt key
    ],
)
def test_crossover_refuses_bad_input(args, field, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    def call():
        preflight.guard(
            args, conf_dir=crossover._CONF, config_name="crossover",
            to_config=crossover.to_config, groups=(),
        )  # fmt: skip

    assert_refused(capsys, call, field, tmp_path)


def test_collect_summarises_the_finished_cells_and_lists_the_missing(tiny):
    cfg, out, _ = tiny
    wider = CrossoverConfig(**dict(TINY, ns=(400, 800), collect=True))
    summary = crossover.run(wider, out)
    assert summary["rows"] == 2
    assert summary["missing_cells"] == [{"d": 6, "n": 800, "seed": 0}]


def test_committed_tables_are_the_committed_summary():
    """results/crossover/tables.md is what markdown() writes from the committed summary.json."""
    out = crossover.Path(__file__).resolve().parents[2] / "results" / "crossover"
    summary = json.loads((out / "summary.json").read_text())
    cfg = CrossoverConfig(**summary["config"])
    assert crossover.markdown(cfg, summary) == (out / "tables.md").read_text()
