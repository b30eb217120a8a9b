"""Bad input is refused before any work, faults fail loudly, and sweeps survive being killed.

* Every bad-input case of the reliability issue: exit status 2, one line that names the field,
  no traceback, nothing written.
* A planted NaN or a forced overflow fails loudly, naming the step and time; no NaN reaches a
  results file.
* Every JSON file written is strict (RFC 8259): a missing or non-finite number is null.
* Determinism: the same config gives identical rows; adding an n leaves the old rows as they
  were.
* A multirun through Hydra's submitit launcher killed part way and run again gives every row
  exactly once, equal to an uninterrupted run's rows.
"""

import dataclasses
import functools
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import strict_json
from hydra import compose, initialize_config_dir
from refusals import assert_refused

import idm
from experiments import collect, generate, rate, tradeoff
from experiments.helpers import cells, preflight, store
from experiments.helpers import rows as rowlib
from idm import w1
from idm.samplers import NonFiniteSamples

ROOT = Path(__file__).resolve().parents[1]
TIMING = {"sample_s", "eval_s", "seconds", "train_s"}


def _rate_guard(args):
    preflight.guard(
        args,
        conf_dir=rate._CONF,
        config_name="config",
        to_config=rate.to_run_config,
        check=rate.check_run,
        groups=rate.GROUPS,
    )


def _generate_guard(args):
    preflight.guard(
        args,
        conf_dir=generate._CONF,
        config_name="generate",
        to_config=generate.to_config,
        groups=(),
    )


def _tradeoff_guard(args):
    preflight.guard(
        args,
        conf_dir=tradeoff._CONF,
        config_name="tradeoff",
        to_config=tradeoff.to_config,
        check=tradeoff.check_run,
        groups=(),
    )


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["sweep.ns=[1,16]"], "sweep.ns"),  # n < 2
        (["manifold.d=0"], "manifold.d"),  # d < 1
        (["manifold=sphere", "manifold.d=3", "manifold.D=3"], "manifold.D"),  # d >= D
        (["manifold=torus", "manifold.d=2", "manifold.D=3"], "manifold.D"),  # D < 2d
        (["method.c=0"], "method.c"),  # c <= 0
        (["method.c=-0.5"], "method.c"),
        (["method.solver=sde", "method.steps=0"], "method.steps"),  # steps < 1
        (["method.names=[idm]", "method.T=0.1", "sweep.ns=[4,8]"], "method.T"),  # T <= s
        (["method.names=[dm]", "method.t_end=9"], "method.t_end"),  # T <= t_end
        (["manifold=klein"], "manifold"),  # unknown manifold
        (["method=vae"], "method"),  # unknown method group
        (["method.names=[idm,vae]"], "method.names"),  # unknown method
        (["method.solver=rk4"], "method.solver"),  # unknown solver
        (["evaluator=sinkhorm"], "evaluator"),  # unknown evaluator
        (["sweep.m=1"], "sweep.m"),  # too few samples
        (["sweep.m=2000000"], "sweep.m"),  # more than memory allows
        (["sweep=tiny", "evaluator.m_law=100000000"], "evaluator.m_law"),  # law draws too
        (["sweep=tiny", "evaluator.m_match=200000000"], "evaluator.m_match"),
        (["manifold.d=two"], "manifold.d"),  # wrong type
        (["sweep.nss=[16]"], "sweep.nss"),  # misspelt key
        (["-m", "manifold=circle,klein"], "manifold"),  # bad value inside a sweep
    ],
)
def test_rate_refuses_bad_input(args, field, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert_refused(capsys, lambda: _rate_guard(args), field, tmp_path)


def test_memory_refusal_says_what_fits(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit):
        _rate_guard(["sweep.m=2000000"])
    line = capsys.readouterr().err
    assert "fits here" in line
    assert "evaluator=sinkhorn" in line
    fits = int(line.split("m = m_ref <= ")[1].split()[0])
    assert 1000 < fits < 2_000_000


def test_good_input_passes(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _rate_guard(["sweep=tiny"])
    _rate_guard(["-m", "manifold=circle,sphere", "sweep=tiny", "hydra/launcher=submitit_local"])
    assert capsys.readouterr().err == ""


def test_expand_sweeps_is_hydras_basic_sweeper_unchanged():
    """preflight's one private Hydra use: if hydra-core moves or changes it, this fails first."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parse = OverridesParser.create().parse_overrides
    jobs = preflight.expand_sweeps(parse(["a=1,2", "b=x", "+c=range(0,2)", "d=choice(u,v)"]))
    assert jobs == [
        ["a=1", "b=x", "+c=0", "d=u"],
        ["a=1", "b=x", "+c=0", "d=v"],
        ["a=1", "b=x", "+c=1", "d=u"],
        ["a=1", "b=x", "+c=1", "d=v"],
        ["a=2", "b=x", "+c=0", "d=u"],
        ["a=2", "b=x", "+c=0", "d=v"],
        ["a=2", "b=x", "+c=1", "d=u"],
        ["a=2", "b=x", "+c=1", "d=v"],
    ]
    assert preflight.expand_sweeps(parse(["a=1"])) == [["a=1"]]
    assert preflight.expand_sweeps([]) == [[]]


def test_job_configs_are_the_jobs_hydra_would_launch(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = ["-m", "manifold=circle,sphere", "sweep=tiny", "method.c=1,2"]
    jobs = preflight.job_configs(args, rate._CONF, "config", rate.GROUPS)
    got = [(cfg.manifold.name, cfg.method.c) for _, cfg in jobs]
    assert got == [("circle", 1), ("circle", 2), ("sphere", 1), ("sphere", 2)]
    assert list(tmp_path.iterdir()) == []  # composed, not run: nothing written


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["num_samples=3"], "data_path"),  # no data file given
        (["data_path=x.npy", "num_samples=0"], "num_samples"),
        (["data_path=x.npy", "sigma=0"], "sigma"),
        (["data_path=x.npy", "sigma=-1"], "sigma"),
        (["data_path=x.npy", "c=0"], "c"),
        (["data_path=x.npy", "d=0"], "d"),
        (["data_path=x.npy", "d=three"], "d"),
        (["data_path=x.npy", "steps=0"], "steps"),
        (["data_path=x.npy", "method=vae"], "method"),
        (["data_path=x.npy", "solver=rk4"], "solver"),
        (["data_path=x.npy", "out=x.txt"], "out"),
    ],
)
def test_generate_refuses_bad_config(args, field, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert_refused(capsys, lambda: _generate_guard(args), field, tmp_path)


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["splits=0"], "splits"),
        (["methods=[idm,vae]"], "methods"),
        (["c_grid=[0.5,-1]"], "c_grid"),
        (["data=mnist"], "data"),
        (["d=0"], "d"),
        (["d=65"], "d"),  # above the digits' D = 64
        (["scale=-1"], "scale"),
        (["num_samples=1"], "num_samples"),
        (["max_copy_fraction=1.5"], "max_copy_fraction"),
        (["test_fraction=0.001"], "test_fraction"),  # leaves too few test points
        (["data_path=missing.npy"], "data_path"),
        (["data_path=points.txt"], "data_path"),
        (["spilts=5"], "spilts"),  # misspelt key
    ],
)
def test_tradeoff_refuses_bad_input(args, field, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert_refused(capsys, lambda: _tradeoff_guard(args), field, tmp_path)


def _write(path: Path, kind: str) -> Path:
    ok = np.random.default_rng(0).normal(size=(20, 4))
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "garbage":
        path.write_bytes(b"this is not an array" * 4)
    elif kind == "not_2d":
        np.save(path, np.ones(5))
    elif kind == "3d":
        np.save(path, np.ones((4, 3, 2)))
    elif kind == "no_points":
        np.save(path, np.ones((0, 4)))
    elif kind == "one_point":
        np.save(path, np.ones((1, 4)))
    elif kind == "nan":
        bad = ok.copy()
        bad[7, 2] = np.nan
        np.save(path, bad)
    elif kind == "inf":
        bad = ok.copy()
        bad[3, 0] = np.inf
        np.savetxt(path, bad, delimiter=",")
    elif kind == "strings":
        np.save(path, np.array([["a", "b"], ["c", "d"]]))
    elif kind == "npz_ambiguous":
        np.savez(path, a=ok, b=ok)
    elif kind == "bad_suffix":
        path.write_text("1,2\n3,4\n")
    elif kind == "ok":
        np.save(path, ok)
    return path


@pytest.mark.parametrize(
    ("name", "kind", "says"),
    [
        ("missing.npy", "missing", "no such file"),
        ("empty.npy", "empty", "empty"),
        ("garbage.npy", "garbage", "cannot read"),
        ("garbage.npz", "garbage", "cannot read"),
        ("vector.npy", "not_2d", "(n, D)"),
        ("cube.npy", "3d", "(n, D)"),
        ("none.npy", "no_points", "no points"),
        ("one.npy", "one_point", "at least 2"),
        ("nan.npy", "nan", "NaN or inf (first at row 7)"),
        ("inf.csv", "inf", "NaN or inf (first at row 3)"),
        ("text.npy", "strings", "real numbers"),
        ("two.npz", "npz_ambiguous", "'data' or 'x'"),
        ("points.txt", "bad_suffix", "unknown file type"),
    ],
)
def test_generate_refuses_bad_files(name, kind, says, tmp_path):
    path = tmp_path / name if kind == "missing" else _write(tmp_path / name, kind)
    with pytest.raises(preflight.InputError) as info:
        generate.load_points(path)
    assert info.value.field == "data_path"
    assert says in str(info.value)
    assert len(str(info.value).splitlines()) == 1


def test_generate_refuses_d_above_D(tmp_path):
    cfg = generate.GenerateConfig(data_path="x.npy", d="5", out=str(tmp_path / "o.npy"))
    with pytest.raises(preflight.InputError, match="d: must be <= D = 4"):
        generate.check(cfg, np.ones((10, 4)))


def _generate_cfg(tmp_path, **kw):
    kw.setdefault("data_path", str(tmp_path / "in.npy"))
    kw.setdefault("out", str(tmp_path / "o.npy"))
    return generate.GenerateConfig(**kw)


@pytest.mark.parametrize(
    ("case", "field", "says"),
    [
        ("out_is_input", "out", "is the input data_path"),
        ("out_exists", "out", "exists; give overwrite=true"),
        ("report_exists", "out", "o.npy.report.json exists"),
        ("missing_folder", "out", "does not exist"),
        ("constant", "data_path", "all 30 points are equal"),
        ("duplicates_of_one", "data_path", "one distinct point"),
        ("few_for_auto", "d", "needs at least 62 distinct points"),
        ("few_distinct_for_auto", "d", "the data have 20 (200 rows)"),
    ],
)
def test_generate_refuses_before_anything_is_written(case, field, says, tmp_path):
    """Never lose a file; too little data for what was asked: one line naming the field."""
    data = np.random.default_rng(0).normal(size=(100, 3))
    kw = {"d": "2"}
    if case == "out_is_input":
        np.save(tmp_path / "in.npy", data)
        kw["out"] = str(tmp_path / "sub" / ".." / "in.npy")
        (tmp_path / "sub").mkdir()
    elif case == "out_exists":
        np.save(tmp_path / "o.npy", data)
    elif case == "report_exists":
        (tmp_path / "o.npy.report.json").write_text("{}")
    elif case == "missing_folder":
        kw["out"] = str(tmp_path / "missing" / "o.npy")
    elif case == "constant":
        data = np.ones((30, 3))
    elif case == "duplicates_of_one":
        data = np.ones((30, 3)) + 1e-15 * np.arange(30)[:, None]  # float64 rounding
    elif case == "few_for_auto":
        data, kw = data[:20], {"d": "auto"}
    elif case == "few_distinct_for_auto":
        data, kw = np.repeat(data[:20], 10, axis=0), {"d": "auto"}
    before = sorted(tmp_path.rglob("*"))
    with pytest.raises(preflight.InputError) as info:
        generate.check(_generate_cfg(tmp_path, **kw), data)
    assert info.value.field == field
    assert says in str(info.value), str(info.value)
    assert len(str(info.value).splitlines()) == 1
    assert sorted(tmp_path.rglob("*")) == before


def test_generate_overwrite_true_replaces_and_each_output_has_its_own_report(tmp_path, key):
    data = np.asarray(jax.random.normal(key, (40, 3)))
    run = functools.partial(generate.run, data=data)
    kw = {"d": "1", "num_samples": 5, "progress": False}
    first = _generate_cfg(tmp_path, out=str(tmp_path / "o.npy"), **kw)
    run(first)
    run(
        _generate_cfg(tmp_path, out=str(tmp_path / "o.csv"), **kw)
    )  # a report of its own: o.npy's is left alone
    assert {p.name for p in tmp_path.iterdir()} == {
        "o.npy",
        "o.npy.report.json",
        "o.csv",
        "o.csv.report.json",
    }
    with pytest.raises(preflight.InputError, match="exists"):
        run(first)
    run(dataclasses.replace(first, overwrite=True, num_samples=7))
    assert np.load(tmp_path / "o.npy").shape == (7, 3)


def _cli(module, args, cwd):
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("module", "args", "field"),
    [
        ("experiments.rate", ["manifold.d=0"], "manifold.d"),
        ("experiments.rate", ["-m", "manifold=circle,klein"], "manifold"),
        ("experiments.generate", ["data_path=nan.npy", "num_samples=5", "out=o.npy"], "data_path"),
        ("experiments.generate", ["data_path=missing.npy", "out=o.npy"], "data_path"),
        ("experiments.generate", ["data_path=few.npy", "out=few.npy"], "out"),  # the input
        ("experiments.generate", ["data_path=few.npy", "d=auto", "out=o.npy"], "d"),  # 20 points
        ("experiments.tradeoff", ["splits=0"], "splits"),
        ("experiments.tradeoff", ["data_path=nan.npy"], "data_path"),
        ("experiments.tradeoff", ["test_fraction=0.001"], "test_fraction"),
    ],
)
def test_command_line_refusal_end_to_end(module, args, field, tmp_path):
    """The real entry points: status 2, one line, no traceback, nothing written."""
    _write(tmp_path / "nan.npy", "nan")
    _write(tmp_path / "few.npy", "ok")
    before = sorted(tmp_path.iterdir())
    proc = _cli(module, args, tmp_path)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"error: {field}"), proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert sorted(tmp_path.iterdir()) == before


# ----------------------------------------------------------------------------- numerical faults


def test_planted_nan_in_data_is_refused(key):
    data = jax.random.normal(key, (50, 3)).at[17, 1].set(jnp.nan)
    with pytest.raises(ValueError, match=r"1 rows with NaN or inf values \(first: row 17\)"):
        idm.sample(key, data, 8, d=1)


@pytest.mark.parametrize("solver", ["sde", "ode"])
def test_forced_overflow_names_the_step_and_time(key, solver):
    """float32 data at 1e19: |x|^2 overflows in the score; the sampler says where it broke."""
    data = 1e19 * jax.random.normal(key, (64, 5), jnp.float32)
    with pytest.raises(NonFiniteSamples, match=r"reverse step \d+ of 4 .*\(t = [\d.e-]+ -> "):
        idm.sample(key, data, 8, d=1, solver=solver, steps=4)


def test_forced_overflow_exact_solver(key):
    data = 1e19 * jax.random.normal(key, (64, 5), jnp.float32)
    with pytest.raises(NonFiniteSamples, match=r"final inertia step \(t = "):
        idm.sample(key, data, 8, d=1, solver="exact")
    # The check is the loudness, not a change of numbers: off, the NaN come back.
    x = idm.sample(key, data, 8, d=1, solver="exact", check_finite=False)
    assert not bool(jnp.all(jnp.isfinite(x)))


def test_finite_run_passes_the_check(key):
    data = jax.random.normal(key, (64, 5))
    assert bool(jnp.all(jnp.isfinite(idm.sample(key, data, 8, d=1, solver="sde", steps=4))))


def test_w1_refuses_non_finite_points(key):
    x = np.asarray(jax.random.normal(key, (20, 3)))
    y = x.copy()
    y[4, 0] = np.inf
    for method in ("exact", "sinkhorn"):
        with pytest.raises(ValueError, match="first at row 4"):
            w1.w1(x, y, method=method)


def test_rate_row_with_non_finite_value_is_not_written():
    fields = {f: 0.1 for f in rowlib.columns(rowlib.Row)}
    fields.update(experiment="t", manifold="circle", d=1, D=100, n=16, seed=0, method="idm")
    fields.update(evaluator="exact", reference="grid", converged=True, w1=math.nan)
    fields.update(w1_kind="plugin", evaluation="ambient", w1_parts="")
    row = rowlib.Row(**fields)
    with pytest.raises(cells.NonFiniteResult, match="non-finite w1 at method=idm n=16 seed=0"):
        cells.check_finite(row)


# ----------------------------------------------------------------------------- determinism


def _config(overrides):
    with initialize_config_dir(config_dir=str(rate._CONF), version_base="1.3"):
        cfg = compose(
            "config", overrides=["sweep=tiny", "progress=false", "figures=false", *overrides]
        )
    return rate.to_run_config(cfg)


def _results(rows):
    return [{k: v for k, v in r.as_dict().items() if k not in TIMING} for r in rows]


def _same_rows(a, b):
    """Equal rows, NaN equal to NaN (columns that do not apply are NaN)."""
    assert len(a) == len(b)
    for ra, rb in zip(_results(a), _results(b), strict=True):
        assert ra.keys() == rb.keys()
        for k in ra:
            x, y = ra[k], rb[k]
            if isinstance(x, float) and math.isnan(x):
                assert isinstance(y, float), k
                assert math.isnan(y), k
            else:
                assert x == y, (k, x, y)


def test_same_config_same_rows_and_adding_an_n_keeps_the_old_rows(tmp_path):
    cfg = _config(["manifold=sphere", "method.names=[idm,train,dm]"])
    first = rate.run(cfg, tmp_path / "a")
    second = rate.run(cfg, tmp_path / "b")
    _same_rows(first, second)
    # Reading back the files gives the same rows (the CSV keeps every digit).
    _same_rows(first, rowlib.read_csv(tmp_path / "a" / "rows.csv"))
    more = rate.run(
        _config(["manifold=sphere", "method.names=[idm,train,dm]", "sweep.ns=[16,24,32]"]),
        tmp_path / "c",
    )
    _same_rows(first, [r for r in more if r.n != 24])
    assert {r.n for r in more} == {16, 24, 32}
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    env = summary["environment"]
    keys = {"jax", "jaxlib", "ott", "pot", "scipy", "device", "x64", "jax_default_matmul_precision"}
    assert keys <= set(env)


def test_widening_a_sweep_computes_only_the_new_cells(tmp_path):
    """More seeds and more n: the finished cells of the job beside it are taken as they are."""
    cfg = _config(["manifold=circle", "method.names=[idm,train]", "sweep.seeds=1"])
    first = rate.run(cfg, tmp_path / "one_seed")
    wide = ["manifold=circle", "method.names=[idm,train]", "sweep.seeds=2", "sweep.ns=[16,24,32]"]
    wider = rate.run(_config(wide), tmp_path / "two_seeds")
    reused = [r for r in wider if r.seed == 0 and r.n != 24]
    # timings too: a recomputed cell would have its own
    assert [r.as_dict() for r in reused] == [r.as_dict() for r in first]
    assert {(r.n, r.seed) for r in wider} == {(n, s) for n in (16, 24, 32) for s in (0, 1)}
    fresh = rate.run(_config([*wide, "skip_existing=false"]), tmp_path / "alone")
    _same_rows(wider, fresh)  # the reused rows are the rows a fresh run computes
    assert (
        store.cells_hash(cfg)
        == json.loads((tmp_path / "two_seeds/summary.json").read_text())["cells_hash"]
    )
    assert store.config_hash(cfg) != store.config_hash(_config(wide))


def test_completed_run_is_skipped_and_killed_cells_are_reused(tmp_path):
    cfg = _config(["manifold=circle", "method.names=[idm,train]"])
    rows = rate.run(cfg, tmp_path)
    stamp = (tmp_path / "rows.csv").stat().st_mtime_ns
    assert _results(rate.run(cfg, tmp_path)) == _results(rows)  # skipped: nothing rewritten
    assert (tmp_path / "rows.csv").stat().st_mtime_ns == stamp
    # A killed run: its checkpoint holds the first cell only; the rerun computes the rest.
    digest = store.cells_hash(cfg)
    for name in ("summary.json", "rows.csv"):
        (tmp_path / name).unlink()
    store.save_partial(tmp_path, digest, [r.as_dict() for r in rows[:2]], [])
    # The circle's rows hold NaN (radial_shrinkage; train's predicted_shrinkage): null on disk.
    strict_json.loads((tmp_path / store.PARTIAL).read_text())
    reloaded, _ = store.load_partial(tmp_path, digest)
    _same_rows(rows[:2], [rowlib.Row(**r) for r in reloaded])
    again = rate.run(cfg, tmp_path)
    _same_rows(rows, again)
    assert not (tmp_path / store.PARTIAL).exists()


def test_write_json_writes_non_finite_numbers_as_null(tmp_path):
    """NaN and inf (Python, numpy scalars, arrays, nested lists) are null; allow_nan=False."""
    nan, inf = math.nan, math.inf
    obj = {
        "nan": nan,
        "inf": [1.0, inf, -inf],
        "nested": [[np.float32(nan), np.float64(2.5)], (np.int64(3), np.bool_(True))],
        "array": np.array([[1.0, nan], [inf, 0.5]]),
        "float32": np.float32(0.25),
        "kept": {"none": None, "text": "NaN", "int": 7},
    }
    store.write_json(tmp_path / "x.json", obj)
    assert strict_json.loads((tmp_path / "x.json").read_text()) == {
        "nan": None,
        "inf": [1.0, None, None],
        "nested": [[None, 2.5], [3, True]],
        "array": [[1.0, None], [None, 0.5]],
        "float32": 0.25,
        "kept": {"none": None, "text": "NaN", "int": 7},
    }
    assert store.nan_if_none(None) != store.nan_if_none(None)  # NaN
    assert store.nan_if_none(0.5) == 0.5


# ----------------------------------------------------------------------------- killed multirun


def test_submitit_multirun_killed_part_way_then_rerun_gives_every_row_once(tmp_path):
    """Two jobs through submitit_local; killed once the short one has finished and the long
    one has checkpointed a cell; the same command again completes the sweep."""
    sweep = tmp_path / "sweep"
    ns = ("[16]", "[16,24,32,48,64,96]")
    command = [
        sys.executable,
        "-m",
        "experiments.rate",
        "-m",
        "hydra/launcher=submitit_local",
        f"hydra.sweep.dir={sweep}",
        "manifold=circle",
        "sweep=tiny",
        "progress=false",
        "figures=false",
        "method.names=[idm,train]",
        f"sweep.ns={','.join(ns)}",
    ]
    proc = subprocess.Popen(
        command,
        cwd=tmp_path,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    deadline = time.time() + 300
    try:
        while time.time() < deadline:
            done = list(sweep.glob("*/summary.json"))
            partial = [
                p for p in sweep.glob("*/partial.json") if not (p.parent / "summary.json").exists()
            ]
            if done and partial:
                break
            assert proc.poll() is None, proc.stdout.read().decode()[-3000:]
            time.sleep(0.2)
        else:
            pytest.fail("the sweep never reached the kill point")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert len(list(sweep.glob("*/summary.json"))) == 1  # part way: one job of two finished
    rerun = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    logs = "".join(p.read_text() for p in sweep.glob("*/rate.log"))
    assert "resuming:" in logs
    assert "skipping" in logs
    summary = collect.collect([sweep], figures=False)
    assert strict_json.check_tree(sweep)  # the jobs' summaries and the merged one
    merged = rowlib.read_csv(sweep / "rows.csv")
    keys = [r.identity() for r in merged]
    # Both jobs measure n = 16 with the same draws (keys fold_in (seed, n, method)): the
    # merge keeps one copy of those 4 rows, and they agree.
    assert len(keys) == len(set(keys)) == 2 * 2 * 6 == summary["rows"]
    assert summary["duplicates_dropped"] == 2 * 2
    assert summary["conflicting_duplicates"] == 0
    tables = [
        rate.run(
            _config(["manifold=circle", "method.names=[idm,train]", f"sweep.ns={n}"]), tmp_path / n
        )
        for n in ns
    ]
    expected, _, _ = rowlib.merge(tables)
    order = {r.identity(): i for i, r in enumerate(expected)}
    _same_rows(expected, sorted(merged, key=lambda r: order[r.identity()]))
