"""Bad input is refused before anything is compiled or written: one line naming the field, exit
status 2, nothing written (rate, generate, tradeoff; the preflight that expands a sweep before
any job).
"""

import dataclasses
import functools
import os
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest
from refusals import assert_refused

from experiments import generate, rate, tradeoff
from experiments.helpers import preflight


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


def _generate_cfg(tmp_path, **kw):
    kw.setdefault("data_path", str(tmp_path / "in.npy"))
    kw.setdefault("out", str(tmp_path / "o.npy"))
    return generate.GenerateConfig(**kw)


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
