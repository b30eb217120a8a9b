"""Merge the rows of many jobs into one table and redraw the figures.

``python -m experiments.collect DIR [DIR ...] [--out OUT]``

Finds every finished job under the given directories (a directory holding rows.csv beside a
summary.json that carries a ``config_hash``, see ``experiments.store``), merges their rows
into ``OUT/rows.csv`` (default: the first DIR) with every (experiment, manifold, d, D, method,
n, seed, c, m, evaluator, reference) exactly once, and writes ``nearest.csv``,
``summary.json`` (the fit table over the merged rows, the jobs read, how many duplicate rows
were dropped and whether any duplicates disagreed) and the figures. Jobs of the same config
run twice (a rerun, or two sweeps that share a job) give identical rows, so dropping the
second copy loses nothing; duplicates that disagree are reported, never averaged.

The multirun callback ``experiments.rate.GatherSweep`` calls :func:`collect` on the sweep
directory at the end of every multirun.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
from collections.abc import Sequence
from pathlib import Path

from experiments import plots, store
from idm.config import BANDWIDTH_METHODS

__all__ = ["IDENTITY", "identity", "find_jobs", "merge_rows", "collect", "main"]

log = logging.getLogger(__name__)

# The columns that say which measurement a row is (everything else is its result or timing).
IDENTITY = (
    "experiment",
    "manifold",
    "d",
    "D",
    "method",
    "n",
    "seed",
    "c",
    "m",
    "m_ref",
    "evaluator",
    "reference",
)
# Result columns compared between duplicates (timings may differ between runs).
_RESULTS = ("w1", "w1_floor", "copy_fraction", "nn_median", "manifold_distance")


def _job_summary(path: Path) -> dict | None:
    try:
        summary = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return summary if "config_hash" in summary else None


def _with_c(rows: list[dict], summary: dict) -> list[dict]:
    """Fills the ``c`` column of rows written before it existed, from the job's config."""
    c = summary.get("config", {}).get("method", {}).get("c")
    if c is None or all("c" in r for r in rows):
        return rows
    nan = float("nan")
    return [{**r, "c": float(c) if r["method"] in BANDWIDTH_METHODS else nan} for r in rows]


def find_jobs(dirs: Sequence[str | Path]) -> list[Path]:
    """Finished job directories under ``dirs`` (sorted; each listed once)."""
    jobs = set()
    for root in map(Path, dirs):
        if not root.is_dir():
            raise FileNotFoundError(f"not a directory: {root}")
        for summary in root.rglob("summary.json"):
            if (summary.parent / "rows.csv").exists() and _job_summary(summary) is not None:
                jobs.add(summary.parent.resolve())
    return sorted(jobs)


def _same(a: dict, b: dict) -> bool:
    for k in _RESULTS:
        x, y = a.get(k), b.get(k)
        if isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y):
            continue
        if x != y:
            return False
    return True


def identity(row: dict) -> tuple:
    """The row's identity (NaN, as for the c of methods without a bandwidth, compares equal)."""
    return tuple(
        None if isinstance(v, float) and math.isnan(v) else v
        for v in (row.get(k) for k in IDENTITY)
    )


def merge_rows(tables: Sequence[list[dict]]) -> tuple[list[dict], int, int]:
    """Concatenates row tables keeping the first row of every identity.

    Returns:
        (rows, duplicates dropped, duplicates whose results disagreed with the kept row).
    """
    kept: dict[tuple, dict] = {}
    dropped = conflicts = 0
    for table in tables:
        for row in table:
            key = identity(row)
            if key in kept:
                dropped += 1
                conflicts += not _same(kept[key], row)
            else:
                kept[key] = row
    return list(kept.values()), dropped, conflicts


def collect(
    dirs: Sequence[str | Path],
    out: str | Path | None = None,
    *,
    floor_factor: float = 2.0,
    n_boot: int = 2000,
    figures: bool = True,
) -> dict:
    """Merges every job under ``dirs`` into ``out``; returns the merged summary."""
    out = Path(out if out is not None else dirs[0])
    jobs = find_jobs(dirs)
    if not jobs:
        raise FileNotFoundError(f"no finished jobs (rows.csv + summary.json) under {list(dirs)}")
    tables, nearest_tables, job_info = [], [], []
    for job in jobs:
        summary = _job_summary(job / "summary.json")
        tables.append(_with_c(plots.read_csv(job / "rows.csv"), summary))
        job_info.append(
            {
                "job": str(job),
                "config_hash": summary["config_hash"],
                "rows": len(tables[-1]),
                "environment": summary.get("environment"),
            }
        )
        near = job / "nearest.csv"
        nearest_tables.append(plots.read_csv(near) if near.exists() else [])
    rows, dropped, conflicts = merge_rows(tables)
    if conflicts:
        log.warning("%d duplicate rows disagree with the kept copy (see summary.json)", conflicts)
    # Nearest distances come in groups of one (manifold, d, D, method, n, seed): keep the first.
    seen, nearest = set(), []
    for table in nearest_tables:
        groups = {tuple(r[k] for k in plots.NEAREST_COLUMNS[:6]) for r in table} - seen
        nearest += [r for r in table if tuple(r[k] for k in plots.NEAREST_COLUMNS[:6]) in groups]
        seen |= groups
    plots.write_csv(out / "rows.csv", rows, plots.ROW_COLUMNS)
    if nearest:
        plots.write_csv(out / "nearest.csv", nearest, plots.NEAREST_COLUMNS)
    fits = plots.fit_table(rows, floor_factor=floor_factor, n_boot=n_boot)
    summary = {
        "fits": fits,
        "jobs": job_info,
        "rows": len(rows),
        "duplicates_dropped": dropped,
        "conflicting_duplicates": conflicts,
        "unconverged_rows": sum(not r["converged"] for r in rows),
    }
    cross = plots.crossover(rows)
    if cross:
        summary["crossover"] = cross
    if figures:
        summary["figures"] = plots.draw_all(
            rows, nearest, out, fits=fits, floor_factor=floor_factor
        )
    store.write_json(out / "summary.json", summary)
    return summary


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dirs", nargs="+", type=Path, help="sweep or job directories")
    parser.add_argument("--out", type=Path, default=None, help="output directory (default: DIR)")
    parser.add_argument("--floor-factor", type=float, default=2.0)
    parser.add_argument("--no-figures", action="store_true")
    args = parser.parse_args(argv)
    try:
        summary = collect(
            args.dirs, args.out, floor_factor=args.floor_factor, figures=not args.no_figures
        )
    except FileNotFoundError as err:
        raise SystemExit(f"error: {err}") from None
    print(  # noqa: T201
        f"{summary['rows']} rows from {len(summary['jobs'])} jobs "
        f"({summary['duplicates_dropped']} duplicates dropped) -> {args.out or args.dirs[0]}"
    )


if __name__ == "__main__":
    main()
