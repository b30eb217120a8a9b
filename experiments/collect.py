"""Merge the rows of many jobs into one table, refit, and redraw the figures.

``python -m experiments.collect DIR [DIR ...] [--out OUT]``

Finds every finished job under the given directories (a directory holding rows.csv beside a
summary.json that carries a ``config_hash``, see ``experiments.helpers.store``), merges their
rows into ``OUT/rows.csv`` (default: the first DIR) with every (experiment, manifold, d, D,
method, n, seed, c, m, evaluator, reference) exactly once, and writes ``nearest.csv``,
``summary.json`` (the fit table over the merged rows, the jobs read, how many duplicate rows
were dropped and whether any duplicates disagreed) and the figures. Jobs of the same config
run twice (a rerun, or two sweeps that share a job) give identical rows, so dropping the
second copy loses nothing; duplicates that disagree are reported, never averaged.

The multirun callback ``experiments.rate.GatherSweep`` calls :func:`collect` on the sweep
directory at the end of every multirun.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from experiments import plots
from experiments.helpers import fits, store
from experiments.helpers import rows as rowlib

__all__ = ["collect", "main"]

log = logging.getLogger(__name__)


def collect(
    dirs: Sequence[str | Path],
    out: str | Path | None = None,
    *,
    floor_factor: float = 2.0,
    n_boot: int = 2000,
    max_rel_error: float = 0.1,
    figures: bool = True,
) -> dict:
    """Merges every job under ``dirs`` into ``out``; returns the merged summary."""
    out = Path(out if out is not None else dirs[0])
    jobs = store.find_jobs(dirs)
    if not jobs:
        raise FileNotFoundError(f"no finished jobs (rows.csv + summary.json) under {list(dirs)}")
    tables, nearest_tables, job_info = [], [], []
    for job in jobs:
        rows, nearest, summary = rowlib.read_job(job)
        tables.append(rows)
        nearest_tables.append(nearest)
        job_info.append(
            {
                "job": str(job),
                "config_hash": summary["config_hash"],
                "rows": len(rows),
                "environment": summary.get("environment"),
            }
        )
    rows, dropped, conflicts = rowlib.merge(tables)
    if conflicts:
        log.warning("%d duplicate rows disagree with the kept copy (see summary.json)", conflicts)
    nearest = rowlib.merge_nearest(nearest_tables)
    rowlib.write_csv(out / "rows.csv", rows)
    if nearest:
        rowlib.write_csv(out / "nearest.csv", nearest)
    table = fits.fit_table(
        rows, floor_factor=floor_factor, n_boot=n_boot, max_rel_error=max_rel_error
    )
    summary = {
        "fits": table,
        "jobs": job_info,
        "rows": len(rows),
        "duplicates_dropped": dropped,
        "conflicting_duplicates": conflicts,
        "unconverged_rows": sum(not r.converged for r in rows),
    }
    cross = fits.crossover(rows)
    if cross:
        summary["crossover"] = cross
    if figures:
        summary["figures"] = plots.draw_all(
            rows, nearest, out, fits=table, floor_factor=floor_factor
        )
    store.write_json(out / "summary.json", summary)
    return summary


def main(argv: Sequence[str] | None = None) -> None:
    from experiments.helpers import preflight

    parser = preflight.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dirs", nargs="+", type=Path, help="sweep or job directories")
    parser.add_argument("--out", type=Path, default=None, help="output directory (default: DIR)")
    parser.add_argument("--floor-factor", type=float, default=2.0)
    parser.add_argument("--no-figures", action="store_true")
    parser.add_argument("--table", action="store_true", help="print the README's fit tables")
    args = parser.parse_args(argv)
    try:
        summary = collect(
            args.dirs, args.out, floor_factor=args.floor_factor, figures=not args.no_figures
        )
    except FileNotFoundError as err:
        preflight.fail(f"dirs: {err}")
    print(  # noqa: T201
        f"{summary['rows']} rows from {len(summary['jobs'])} jobs "
        f"({summary['duplicates_dropped']} duplicates dropped) -> {args.out or args.dirs[0]}"
    )
    if args.table:
        print(fits.markdown(summary))  # noqa: T201


if __name__ == "__main__":
    main()
