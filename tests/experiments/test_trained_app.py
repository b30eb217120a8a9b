"""method=trained in the rate app: bad input, determinism, the model cache, resume, cost columns.

Tiny nets and few steps (width 16, 40 steps): what is tested is the plumbing, not the network.
"""

import dataclasses
import math

import jax
import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from refusals import assert_refused

from experiments import rate
from experiments.helpers import preflight, store, trained_models
from experiments.helpers.schemas import RunConfig, TrainedConfig
from idm import trained

TINY = ["trained.width=16", "trained.depth=1", "trained.features=4", "trained.steps=40",
        "trained.batch=16", "trained.chunk=20", "trained.sample_steps=5"]  # fmt: skip
TIMING = {"sample_s", "eval_s", "seconds", "train_s"}


def _config(overrides, cache):
    with initialize_config_dir(config_dir=str(rate._CONF), version_base="1.3"):
        cfg = compose(
            "config",
            overrides=[
                "sweep=tiny",
                "progress=false",
                "figures=false",
                "manifold=sphere",
                "method.names=[train,trained]",
                "sweep.seeds=1",
                f"trained.cache_dir={cache}",
                *TINY,
                *overrides,
            ],
        )
    return rate.to_run_config(cfg)


def _results(rows):
    out = []
    for r in rows:
        d = {k: v for k, v in r.as_dict().items() if k not in TIMING}
        out.append({k: None if isinstance(v, float) and math.isnan(v) else v for k, v in d.items()})
    return out


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
    assert _results(again) == _results(first)
    # the cached model keeps its original training time (NaN for the other methods)
    assert [r.train_s for r in again if r.method == "trained"] == [
        r.train_s for r in first if r.method == "trained"
    ]
    monkeypatch.undo()
    # Without the cache, training again from the same key gives the same rows.
    fresh = rate.run(_config(["skip_existing=false"], ""), tmp_path / "c")
    assert _results(fresh) == _results(first)


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
