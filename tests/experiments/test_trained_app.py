"""method=trained in the rate app: bad input, determinism, the model cache, resume, cost columns;
and method idm_auto (IDM at c=auto per cell): the recorded c, determinism, resume, bad input.

Tiny nets and few steps (width 16, 40 steps): what is tested is the plumbing, not the network.
"""

import dataclasses
import math

import jax
import numpy as np
import pytest
from rate_configs import run_config, timeless
from refusals import assert_refused

from experiments import rate
from experiments.helpers import cells, fits, preflight, store, trained_models
from experiments.helpers.schemas import (
    METHODS,
    RATE_METHODS,
    GenerateConfig,
    MethodConfig,
    RunConfig,
    TrainedConfig,
)
from idm import bandwidth, schedule, trained

TINY = ["trained.width=16", "trained.depth=1", "trained.features=4", "trained.steps=40",
        "trained.batch=16", "trained.chunk=20", "trained.sample_steps=5"]  # fmt: skip


def _config(overrides, cache):
    return run_config(
        [
            "manifold=sphere",
            "method.names=[train,trained]",
            "sweep.seeds=1",
            f"trained.cache_dir={cache}",
            *TINY,
            *overrides,
        ]
    )


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["trained.steps=0"], "trained.steps"),
        (["trained.steps=-3"], "trained.steps"),
        (["trained.lr=0"], "trained.lr"),
        (["trained.batch=0"], "trained.batch"),
        (["trained.solver=exact"], "trained.solver"),
        (["trained.dtype=float16"], "trained.dtype"),
        (["trained.widht=8"], "trained.widht"),
    ],
)
def test_rate_refuses_bad_trained_settings(args, field, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    def call():
        preflight.guard(
            ["method.names=[trained]", *args],
            conf_dir=rate._CONF,
            config_name="config",
            to_config=rate.to_run_config,
            check=rate.check_run,
            groups=rate.GROUPS,
        )

    assert_refused(capsys, call, field, tmp_path)


def test_trained_rows_carry_the_cost_resume_from_the_cache_and_are_deterministic(
    tmp_path, monkeypatch
):
    cache = tmp_path / "cache"
    cfg = _config([], cache)
    first = rate.run(cfg, tmp_path / "a")
    row = next(r for r in first if r.method == "trained")
    assert row.train_steps == 40
    assert row.train_s > 0
    # hidden layer: w (D + features) x width, u features x width, b; output: w, b (D = 100)
    assert row.n_params == (100 + 4) * 16 + 4 * 16 + 16 + 16 * 100 + 100
    assert row.w1_kind == "plugin"  # the network's outputs leave the span: plug-in + floor
    assert row.evaluation == "ambient"
    other = next(r for r in first if r.method == "train")
    assert other.train_steps == 0
    assert math.isnan(other.train_s)
    assert len(list(cache.glob("*.npz"))) == 2  # one model per (n, seed): n = 16, 32

    # A second run, elsewhere: every model comes from the cache (training would fail here),
    # with its original training time, and the rows are the same.
    def refuse(*a, **k):
        raise AssertionError("retrained a cached model")

    monkeypatch.setattr(trained, "train", refuse)
    again = rate.run(cfg, tmp_path / "b")
    assert timeless(again) == timeless(first)
    # the cached model keeps its original training time (NaN for the other methods)
    assert [r.train_s for r in again if r.method == "trained"] == [
        r.train_s for r in first if r.method == "trained"
    ]
    monkeypatch.undo()
    # Without the cache, training again from the same key gives the same rows.
    fresh = rate.run(_config(["skip_existing=false"], ""), tmp_path / "c")
    assert timeless(fresh) == timeless(first)


def test_diverging_training_stops_with_one_line_and_leaves_no_row(tmp_path, capsys):
    cfg = _config(["trained.lr=10000", "trained.clip=1e6", "trained.warmup=0"], "")
    with pytest.raises(trained.TrainingDiverged, match=r"lower trained.lr \(now 10000\)"):
        rate.run(cfg, tmp_path / "run")
    assert not (tmp_path / "run" / "rows.csv").exists()
    assert not (tmp_path / "run" / store.PARTIAL).exists()


def test_cache_round_trip_is_exact(tmp_path):
    data = np.random.default_rng(0).normal(size=(12, 4))
    tc = TrainedConfig(width=8, depth=2, features=4, steps=20, batch=8, chunk=10)
    model = trained.train(jax.random.key(1), data, tc.train_config())
    trained_models.save(tmp_path / "m.npz", model)
    back = trained_models.load(tmp_path / "m.npz")
    for a, b in zip(jax.tree_util.tree_leaves(model), jax.tree_util.tree_leaves(back),
                    strict=True):  # fmt: skip
        np.testing.assert_array_equal(a, b)
    assert (back.losses, back.seconds, back.steps) == (model.losses, model.seconds, 20)
    key = jax.random.key(1)
    base = trained_models.cache_key(key, data, tc.train_config())
    assert base != trained_models.cache_key(key, data[:-1], tc.train_config())
    assert base != trained_models.cache_key(jax.random.key(2), data, tc.train_config())
    other = dataclasses.replace(tc, lr=1e-3).train_config()
    assert base != trained_models.cache_key(key, data, other)


def test_trained_section_enters_the_hash_only_when_the_method_runs():
    """Runs without method=trained keep the directories they had before the section existed."""
    plain = RunConfig()
    changed = dataclasses.replace(plain, trained=TrainedConfig(steps=7))
    assert store.config_hash(plain) == store.config_hash(changed)
    assert store.cells_hash(plain) == store.cells_hash(changed)
    with_trained = dataclasses.replace(
        plain, method=dataclasses.replace(plain.method, names=("idm", "trained"))
    )
    assert store.config_hash(with_trained) != store.config_hash(
        dataclasses.replace(with_trained, trained=TrainedConfig(steps=7))
    )
    assert store.config_hash(with_trained) == store.config_hash(
        dataclasses.replace(with_trained, trained=TrainedConfig(cache_dir="/elsewhere"))
    )


# ----------------------------------------------------------------------------- idm_auto


def _auto_config(overrides=()):
    return run_config(
        ["manifold=sphere", "method.names=[idm,idm_auto]", "sweep.seeds=1", *overrides]
    )


def test_idm_auto_records_the_c_select_c_chooses_on_the_cells_training_set(tmp_path):
    cfg = _auto_config()
    rows = rate.run(cfg, tmp_path / "a")
    auto = [r for r in rows if r.method == "idm_auto"]
    assert len(auto) == len(cfg.sweep.ns) * cfg.sweep.seeds
    sweep = cells.Sweep.create(cfg)
    for r in auto:
        data = sweep.man.sample(cells._key(sweep.root, cells._DATA, r.seed, r.n), r.n)
        key = cells._key(sweep.root, cells._AUTO, r.seed, r.n)
        sel = bandwidth.select_c(key, np.asarray(data), 2, scale=1.0)
        assert r.c == float(sel.c)
        assert r.c_by == sel.decided_by
        assert r.c_by in ("guard", "criterion")
        assert r.sigma == float(schedule.bandwidth(r.n, 2, r.c))
        assert r.predicted_shrinkage == pytest.approx(r.sigma**2)  # d/2 sigma^2, d = 2
        assert r.select_s > 0
        assert r.w1_kind == "bracket"  # in the span: the law bracket, as idm
    for r in rows:
        if r.method == "idm":  # the config's c, nothing chosen
            assert (r.c, r.c_by, math.isnan(r.select_s)) == (1.0, "", True)
    # c is a result of idm_auto, not a setting: its rows keep their label in fits and figures
    assert {r.method for r in fits.labelled(rows)} == {"idm", "idm_auto"}


def test_idm_auto_at_c_1_is_the_idm_row(tmp_path, monkeypatch):
    """Sampled and evaluated by idm's path with idm's keys: only c (and the record) differs."""
    monkeypatch.setattr(cells, "select_bandwidth", lambda *a: (1.0, "criterion", 0.5))
    rows = rate.run(_auto_config(["sweep.ns=[16]"]), tmp_path / "a")
    idm_row, auto = (next(r for r in rows if r.method == m) for m in ("idm", "idm_auto"))
    (a,) = timeless([dataclasses.replace(auto, method="idm", c_by="")])
    assert a == timeless([idm_row])[0]
    assert (auto.c_by, auto.select_s) == ("criterion", 0.5)


def test_idm_auto_is_deterministic_from_the_seed_and_resumes(tmp_path, monkeypatch):
    cfg = _auto_config()
    first = rate.run(cfg, tmp_path / "a")
    again = rate.run(_auto_config(["skip_existing=false"]), tmp_path / "b")
    assert timeless(again) == timeless(first)
    assert len({r.c for r in first if r.method == "idm_auto"}) == len(cfg.sweep.ns)  # per cell

    # A run killed after its first cell: the checkpoint holds that cell; resuming selects c
    # only for the others and gives the same rows.
    n0 = cfg.sweep.ns[0]
    done = [r for r in first if (r.n, r.seed) == (n0, 0)]
    out = tmp_path / "elsewhere" / "killed"  # not beside a and b: no cells shared from them
    out.mkdir(parents=True)
    store.save_partial(out, store.cells_hash(cfg), [r.as_dict() for r in done], [])
    called = []
    select = cells.select_bandwidth

    def counting(cell):
        called.append((cell.n, cell.seed))
        return select(cell)

    monkeypatch.setattr(cells, "select_bandwidth", counting)
    resumed = rate.run(cfg, out)
    assert (n0, 0) not in called
    assert len(called) == len(cfg.sweep.ns) * cfg.sweep.seeds - 1
    assert timeless(resumed) == timeless(first)


@pytest.mark.parametrize("ns", ["[2,16]", "[3]"])
def test_rate_refuses_idm_auto_below_select_c_minimum(ns, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    def call():
        preflight.guard(
            ["method.names=[idm_auto]", f"sweep.ns={ns}"],
            conf_dir=rate._CONF,
            config_name="config",
            to_config=rate.to_run_config,
            check=rate.check_run,
            groups=rate.GROUPS,
        )

    assert_refused(capsys, call, "sweep.ns", tmp_path)


def test_idm_auto_is_the_rate_apps_own_method():
    """The rate app accepts it; the library's and the generate app's lists do not grow."""
    assert "idm_auto" in RATE_METHODS
    assert "idm_auto" not in METHODS
    assert RunConfig(method=MethodConfig(names=("idm_auto",))).method.names == ("idm_auto",)
    with pytest.raises(ValueError, match="method"):
        GenerateConfig(data_path="x.npy", method="idm_auto")
