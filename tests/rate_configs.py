"""The rate app's configs at test size, and its rows without their timings: one definition each,
shared by ``tests/experiments/``.
"""

import math
from pathlib import Path

from hydra import compose as hydra_compose
from hydra import initialize_config_dir

from experiments import rate

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf" / "rate"  # the rate app's config root
# Columns that differ between two runs of one config (wall seconds).
TIMING = {"sample_s", "eval_s", "seconds", "train_s", "select_s"}
# Smoke-test size for every experiment: an experiment's own sweep values (high_dim sets n up to
# 4000 and m = 4000) come after the sweep group, so they are overridden here one by one; the
# evaluator's sizes (each evaluator has its own settings) are in TINY_EVALUATOR.
TINY = [
    "sweep.ns=[16,32]",
    "sweep.seeds=2",
    "sweep.m=32",
    "sweep.m_ref=null",
    "sweep.hist_samples=8",
    "progress=false",
    # method=trained: a tiny network, no model cache
    "trained.width=16",
    "trained.depth=1",
    "trained.features=4",
    "trained.steps=20",
    "trained.chunk=20",
    "trained.batch=16",
    "trained.sample_steps=5",
    "trained.cache_dir=''",
]
# Each evaluator at smoke-test size (those with no size setting run at the sweep's size).
TINY_EVALUATOR = {
    "bracket": [
        "evaluator.m_law=256",
        "evaluator.m_exact=64",
        "evaluator.m_fresh=128",
        "evaluator.m_match=512",
        "evaluator.cells=64",
    ],
    "extrapolated": ["evaluator.m_law=64"],
    "semidiscrete": ["evaluator.num_iterations=100", "evaluator.n_eval=4096"],
}


def compose(overrides, conf_dir=CONF):
    """The Hydra config of ``overrides`` (not yet typed)."""
    with initialize_config_dir(config_dir=str(conf_dir), version_base="1.3"):
        return hydra_compose("config", overrides=list(overrides))


def tiny(overrides):
    """The config of ``overrides`` at smoke-test size, for whichever evaluator they choose."""
    evaluator = compose(overrides).evaluator.method
    return compose([*TINY, *TINY_EVALUATOR.get(evaluator, []), *overrides])


def run_config(overrides):
    """The typed config of ``overrides`` on ``sweep=tiny``, quiet and without figures."""
    base = ["sweep=tiny", "progress=false", "figures=false"]
    return rate.to_run_config(compose([*base, *overrides]))


def timeless(rows):
    """Rows as dicts without their timing columns, NaN as None (so equal rows compare equal)."""
    return [
        {k: None if isinstance(v, float) and math.isnan(v) else v
         for k, v in r.as_dict().items() if k not in TIMING}
        for r in rows
    ]  # fmt: skip
