"""Every experiment config composes, type-checks and runs at a tiny size; typos fail early."""

import dataclasses
import json
import math
import os
import shutil
import subprocess
import sys

import pytest
import strict_json
from hydra import compose as hydra_compose
from hydra import initialize_config_dir
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf
from omegaconf.errors import ConfigKeyError, ValidationError
from rate_configs import CONF, ROOT, compose, tiny

from experiments import plots, rate
from experiments.helpers import rows as rowlib
from experiments.helpers import store
from experiments.helpers.schemas.evaluators import EVALUATORS, HASHED_DEFAULTS
from experiments.helpers.schemas.rate import RunConfig

EXPERIMENTS = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml"))
# The bracket's upper bounds, as named in w1_parts (the matched one is a single value).
UPPERS = ("sobolev_upper", "exact_upper", "matched_upper")


def test_experiments_exist():
    assert {"default", "d_independence", "paper"} <= set(EXPERIMENTS)


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_experiment_composes_to_typed_config(experiment):
    cfg = compose([f"experiment={experiment}"])
    rc = rate.to_run_config(cfg)
    assert isinstance(rc, RunConfig)
    assert rc.name == experiment
    assert isinstance(rc.sweep.ns, tuple)
    assert isinstance(rc.method.names, tuple)


def test_named_experiment_contents():
    default = rate.to_run_config(compose(["experiment=default"]))
    assert default.manifold.D == 100
    assert default.sweep.ns == tuple(2**k for k in range(6, 16))  # to 2^15 (issue 13)
    assert default.sweep.seeds >= 3
    assert {"idm", "train"} <= set(default.method.names)
    assert default.evaluator.method == "bracket"
    long = rate.to_run_config(compose(["experiment=rate_long"]))
    # issue 21: two decades of n with the Sobolev upper bound on every idm row
    assert long.sweep.ns[0] <= 1000
    assert long.sweep.ns[-1] >= 100_000
    assert long.evaluator.sobolev
    assert long.evaluator.m_match >= 2**16  # the matched upper bound for the train rows on S^2
    # the multirun's cases (long_d/): d = 1..6 over the whole grid, d = 8 to n = 10^4; 3 seeds
    for d in (1, 2, 3, 4, 5, 6, 8):
        rc = rate.to_run_config(compose(["experiment=rate_long", f"+long_d=d{d}"]))
        assert (rc.manifold.d, rc.sweep.seeds, rc.evaluator.sobolev) == (d, 3, True)
        assert rc.sweep.ns == (long.sweep.ns if d <= 6 else (1000, 3000, 10000))
    dind = rate.to_run_config(compose(["experiment=d_independence"]))
    assert set(dind.method.names) == {"idm", "early_stop", "kde", "cfdm"}
    assert len(dind.sweep.ns) == 1
    paper = rate.to_run_config(compose(["experiment=paper"]))
    assert paper.sweep.ns[-1] == 100_000
    # D = null means the embedding dimension: d + 1 on the sphere.
    minimal = rate.to_run_config(compose(["experiment=paper", "manifold.D=null", "manifold.d=3"]))
    assert minimal.manifold.ambient_dim == 4


@pytest.mark.parametrize(
    ("override", "error", "key"),
    [
        ("sweep.nss=[16,32]", ConfigCompositionException, "sweep.nss"),
        ("manifold.d=two", ConfigCompositionException, "manifold.d"),
        ("sweep.seeds=1.5", ConfigCompositionException, "sweep.seeds"),
        ("evaluator=sinkhorm", ConfigCompositionException, "sinkhorm"),
    ],
)
def test_bad_override_fails_at_start_naming_the_key(override, error, key):
    with pytest.raises(error) as info:
        compose([override])
    text = str(info.value) + str(info.value.__cause__)
    assert key in text


@pytest.mark.parametrize(
    ("override", "match"),
    [
        ("method.names=[idm,dmm]", "method.names"),
        ("sweep.ns=[32,16]", "sweep.ns"),
        ("manifold.D=1", "manifold.D"),
        ("evaluator.method=emd", "evaluator.method"),
        ("+sweep.nss=[16,32]", "sweep.nss"),
        ("evaluator.m_match=1", "evaluator.m_match"),
        ("evaluator.match_passes=-1", "evaluator.match_passes"),
        ("evaluator.cells=1", "evaluator.cells"),
    ],
)
def test_bad_value_fails_when_typed(override, match):
    cfg = compose([override])
    with pytest.raises(ValueError, match=match):
        rate.to_run_config(cfg)


def test_typo_in_a_yaml_file_fails(tmp_path):
    conf = tmp_path / "conf"
    shutil.copytree(CONF, conf)
    (conf / "experiment" / "typo.yaml").write_text(
        "# @package _global_\nname: typo\nsweep:\n  seeds: 2\n  m_reff: 64\n"
    )
    with pytest.raises((ConfigCompositionException, ConfigKeyError, ValidationError)) as info:
        compose(["experiment=typo"], conf_dir=conf)
    assert "m_reff" in str(info.value) + str(info.value.__cause__)


def test_bench_config_has_a_schema():
    import yaml

    from experiments import bench

    with initialize_config_dir(config_dir=str(bench._CONF), version_base="1.3"):
        cfg = hydra_compose("bench")
        assert OmegaConf.get_type(cfg) is bench.BenchConfig
        # The schema adds types, not values: the composed config is the YAML's.
        values = yaml.safe_load((bench._CONF / "bench.yaml").read_text())
        del values["defaults"], values["hydra"]
        assert OmegaConf.to_container(cfg) == values
        for bad in (["repeats=abc"], ["sampler.solvers=exact"], ["kernel.shape=[[8,8,2]]"]):
            with pytest.raises(ConfigCompositionException):
                hydra_compose("bench", overrides=bad)


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_experiment_runs_at_tiny_size(experiment, tmp_path):
    rc = rate.to_run_config(tiny([f"experiment={experiment}"]))
    rows = rate.run(rc, tmp_path)
    sw = rc.sweep
    assert len(rows) == len(sw.ns) * sw.seeds * len(rc.method.names)
    saved = rowlib.read_csv(tmp_path / "rows.csv")
    assert [r.w1 for r in saved] == [r.w1 for r in rows]
    for r in saved:
        assert set(rowlib.columns(rowlib.Row)) == set(r.as_dict())
        assert r.w1 > 0
        assert r.w1_floor > 0
        assert isinstance(r.converged, bool)
    assert strict_json.check_tree(tmp_path)
    if getattr(rc.evaluator, "sobolev", False):  # rate_long: idm rows carry the Sobolev bound
        for r in saved:
            parts = strict_json.loads(r.w1_parts)
            assert ("sobolev_upper" in parts) == (r.method == "idm"), parts
            assert parts["upper_by"] in ("sobolev", "exact", "matched"), parts
            best = min(parts.get(k, math.inf) for k in UPPERS)  # (exact_replicates = 1: no SE)
            assert math.isclose(r.w1_upper, best, abs_tol=1e-9), parts
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["config"]["name"] == experiment
    assert {"jax", "jaxlib", "ott", "device", "x64"} <= set(summary["environment"])
    if len(sw.ns) >= 2:
        assert (tmp_path / "rate.png").exists()
        assert {f["method"] for f in summary["fits"]} == set(rc.method.names)


@pytest.mark.slow
def test_command_line_multirun_gathers_the_sweep(tmp_path):
    """The README's main command, at a tiny size: two jobs, gathered into the sweep dir."""
    cmd = [
        sys.executable, "-m", "experiments.rate", "sweep=tiny", "progress=false",
        f"hydra.sweep.dir={tmp_path}",
    ]  # fmt: skip
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    jobs = sorted(p.parent.name for p in tmp_path.glob("*/rows.csv"))
    assert len(jobs) == 2
    rows = rowlib.read_csv(tmp_path / "rows.csv")
    assert {r.manifold for r in rows} == {"circle", "sphere"}
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert len(summary["jobs"]) == 2
    for name in ("rate.png", "memorization.png"):
        assert (tmp_path / name).exists()
    # Figures redraw from the saved rows alone.
    shutil.rmtree(tmp_path / jobs[0])
    (tmp_path / "rate.png").unlink()
    plots.main([str(tmp_path / jobs[1])])
    assert (tmp_path / jobs[1] / "rate.png").exists()


# ----------------------------------------------------------------------------- config roots


# Each app's --help in one process (one import of jax): the groups it lists, as JSON.
_HELP_GROUPS = """
import contextlib, importlib, io, json, sys
groups = {}
for app in ("rate", "generate", "tradeoff", "crossover", "bench"):
    module = importlib.import_module(f"experiments.{app}")
    sys.argv, text = [app, "--help"], io.StringIO()
    with contextlib.redirect_stdout(text), contextlib.suppress(SystemExit):
        module.main()
    listed = text.getvalue().split("(group=option)")[1].split("== Config ==")[0]
    groups[app] = sorted(line.split(":")[0] for line in listed.splitlines() if ":" in line)
print(json.dumps(groups))
"""


def test_each_app_help_lists_its_own_groups_only():
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run([sys.executable, "-c", _HELP_GROUPS], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    groups = json.loads(proc.stdout.strip().splitlines()[-1])
    rate_groups = ["evaluator", "experiment", "long_d", "manifold", "method", "sweep"]
    assert groups == {"rate": rate_groups, "generate": [], "tradeoff": [], "crossover": [],
                      "bench": []}  # fmt: skip


@pytest.mark.parametrize("name", sorted(EVALUATORS))
def test_each_evaluator_option_brings_its_own_schema(name):
    cfg = compose([f"evaluator={name}"])
    rc = rate.to_run_config(cfg)
    assert type(rc.evaluator) is EVALUATORS[name]
    assert rc.evaluator.method == name
    # the hashed record is the one flat record every job was keyed by before the split
    assert rc.evaluator.hash_record().keys() == HASHED_DEFAULTS.keys()


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        (["evaluator=exact", "evaluator.m_law=64"], "m_law"),  # the bracket's, not exact's
        (["evaluator=sinkhorn", "evaluator.n_eval=5000"], "n_eval"),  # semidiscrete's
        (["evaluator=semidiscrete", "evaluator.max_iterations=9"], "max_iterations"),  # renamed
    ],
)
def test_a_setting_of_another_evaluator_fails_at_start_naming_the_key(overrides, key):
    with pytest.raises(ConfigCompositionException) as info:
        compose(overrides)
    assert key in str(info.value) + str(info.value.__cause__)


@pytest.mark.parametrize("experiment", ["default", "rate_long", "trained"])
def test_committed_jobs_keep_their_config_hash(experiment):
    """Each job's directory ends in its config hash: the committed sweeps still find their jobs."""
    from experiments.helpers import preflight

    jobs = preflight.job_configs([f"experiment={experiment}"], CONF, "config", rate.GROUPS)
    hashes = sorted(store.config_hash(rate.to_run_config(cfg)) for _, cfg in jobs)
    committed = ROOT / "results" / experiment
    assert hashes == sorted(p.name.rsplit("_", 1)[1] for p in committed.iterdir() if p.is_dir())


def test_one_sampler_config_for_the_rate_and_generate_apps():
    """Both inherit SamplerConfig's fields and checks; only the prefix of the field differs."""
    from experiments.helpers.schemas.common import SamplerConfig
    from experiments.helpers.schemas.generate import GenerateConfig
    from experiments.helpers.schemas.rate import MethodConfig

    names = {f.name for f in dataclasses.fields(SamplerConfig)}
    for schema in (MethodConfig, GenerateConfig):
        assert names <= {f.name for f in dataclasses.fields(schema)}
    with pytest.raises(ValueError, match=r"^method\.solver must be one of"):
        MethodConfig(solver="euler")
    with pytest.raises(ValueError, match=r"^solver must be one of"):
        GenerateConfig(data_path="x.npy", solver="euler")
    with pytest.raises(ValueError, match=r"^method\.steps must be >= 1"):
        MethodConfig(steps=0)
