"""Sweeps are deterministic and resumable, and survive being killed.

* Determinism: the same config gives identical rows; adding an n leaves the old rows as they
  were; widening a sweep computes only the new cells; a finished run is skipped.
* Every JSON file written is strict (RFC 8259): a missing or non-finite number is null.
* A multirun through Hydra's submitit launcher killed part way and run again gives every row
  exactly once, equal to an uninterrupted run's rows.
"""

import json
import math
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import strict_json
from rate_configs import run_config, timeless

from experiments import collect, rate
from experiments.helpers import rows as rowlib
from experiments.helpers import store

# ----------------------------------------------------------------------------- bad input


# ----------------------------------------------------------------------------- numerical faults


# ----------------------------------------------------------------------------- determinism


def _same_rows(a, b):
    """Equal rows but for their timings (NaN equal to NaN: columns that do not apply are NaN)."""
    assert timeless(a) == timeless(b)


def test_same_config_same_rows_and_adding_an_n_keeps_the_old_rows(tmp_path):
    cfg = run_config(["manifold=sphere", "method.names=[idm,train,dm]"])
    first = rate.run(cfg, tmp_path / "a")
    second = rate.run(cfg, tmp_path / "b")
    _same_rows(first, second)
    # Reading back the files gives the same rows (the CSV keeps every digit).
    _same_rows(first, rowlib.read_csv(tmp_path / "a" / "rows.csv"))
    more = rate.run(
        run_config(["manifold=sphere", "method.names=[idm,train,dm]", "sweep.ns=[16,24,32]"]),
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
    cfg = run_config(["manifold=circle", "method.names=[idm,train]", "sweep.seeds=1"])
    first = rate.run(cfg, tmp_path / "one_seed")
    wide = ["manifold=circle", "method.names=[idm,train]", "sweep.seeds=2", "sweep.ns=[16,24,32]"]
    wider = rate.run(run_config(wide), tmp_path / "two_seeds")
    reused = [r for r in wider if r.seed == 0 and r.n != 24]
    # timings too: a recomputed cell would have its own
    assert [r.as_dict() for r in reused] == [r.as_dict() for r in first]
    assert {(r.n, r.seed) for r in wider} == {(n, s) for n in (16, 24, 32) for s in (0, 1)}
    fresh = rate.run(run_config([*wide, "skip_existing=false"]), tmp_path / "alone")
    _same_rows(wider, fresh)  # the reused rows are the rows a fresh run computes
    assert (
        store.cells_hash(cfg)
        == json.loads((tmp_path / "two_seeds/summary.json").read_text())["cells_hash"]
    )
    assert store.config_hash(cfg) != store.config_hash(run_config(wide))


def test_completed_run_is_skipped_and_killed_cells_are_reused(tmp_path):
    cfg = run_config(["manifold=circle", "method.names=[idm,train]"])
    rows = rate.run(cfg, tmp_path)
    stamp = (tmp_path / "rows.csv").stat().st_mtime_ns
    assert timeless(rate.run(cfg, tmp_path)) == timeless(rows)  # skipped: nothing rewritten
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
            run_config(["manifold=circle", "method.names=[idm,train]", f"sweep.ns={n}"]),
            tmp_path / n,
        )
        for n in ns
    ]
    expected, _, _ = rowlib.merge(tables)
    order = {r.identity(): i for i, r in enumerate(expected)}
    _same_rows(expected, sorted(merged, key=lambda r: order[r.identity()]))
