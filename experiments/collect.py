"""Merge the rows of many jobs into one table, refit, and redraw the figures.

``python -m experiments.collect DIR [DIR ...] [--out OUT]``

Finds every finished job under the given directories (a directory holding rows.csv beside a
summary.json that carries a ``config_hash``, see ``experiments.helpers.store``), merges their
rows into ``OUT/rows.csv`` (default: the first DIR) with every (experiment, manifold, d, D,
method, n, seed, c, m, evaluator, reference) exactly once, and writes ``nearest.csv``,
``summary.json`` (the fit table over the merged rows, the fit settings it used, the jobs read,
how many duplicate rows were dropped and whether any duplicates disagreed) and the figures.
The fit settings are the ones the jobs recorded (``config.fit`` of their summaries; jobs
fitted with different settings are refused unless settings are given), so the merged fits
follow the same rule as each job's. Jobs of the same config
run twice (a rerun, or two sweeps that share a job) give identical rows, so dropping the
second copy loses nothing; duplicates that disagree are reported, never averaged.

The multirun callback ``experiments.rate.GatherSweep`` calls :func:`collect` on the sweep
directory at the end of every multirun.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from pathlib import Path

from experiments.figures import rate as rate_figures
from experiments.helpers import fits, inclusion, store
from experiments.helpers import rows as rowlib
from experiments.helpers.schemas import FitConfig

__all__ = ["collect", "main"]

log = logging.getLogger(__name__)


def collect(
    dirs: Sequence[str | Path],
    out: str | Path | None = None,
    *,
    settings: FitConfig | None = None,
    figures: bool = True,
) -> dict:
    """Merges every job under ``dirs`` into ``out``; returns the merged summary.

    Args:
        dirs: sweep or job directories.
        out: where the merged files go (default: the first of ``dirs``).
        settings: the fit settings; default: the ones every job recorded.
        figures: whether to draw the figures.

    Raises:
        FileNotFoundError: when no finished job is found.
        ValueError: when ``settings`` is None and the jobs recorded different settings.
    """
    out = Path(out if out is not None else dirs[0])
    jobs = store.find_jobs(dirs)
    if not jobs:
        raise FileNotFoundError(f"no finished jobs (rows.csv + summary.json) under {list(dirs)}")
    tables, nearest_tables, job_info, summaries = [], [], [], []
    for job in jobs:
        rows, nearest, summary = rowlib.read_job(job)
        summaries.append(summary)
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
    settings = inclusion.jobs_settings(summaries) if settings is None else settings
    table = fits.fit_table(rows, settings)
    summary = {
        "fits": table,
        "fit_settings": dataclasses.asdict(settings),
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
        summary["figures"] = rate_figures.draw_all(rows, nearest, out, table, settings)
    store.write_json(out / "summary.json", summary)
    return summary


def main(argv: Sequence[str] | None = None) -> None:
    from experiments.helpers import preflight

    parser = preflight.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dirs", nargs="+", type=Path, help="sweep or job directories")
    parser.add_argument("--out", type=Path, default=None, help="output directory (default: DIR)")
    parser.add_argument(
        "--floor-factor", type=float, default=None, help="default: the jobs' recorded setting"
    )
    parser.add_argument("--no-figures", action="store_true")
    parser.add_argument("--table", action="store_true", help="print the README's fit tables")
    args = parser.parse_args(argv)
    try:
        settings = None
        if args.floor_factor is not None:
            jobs = [store.job_summary(j / "summary.json") for j in store.find_jobs(args.dirs)]
            recorded = inclusion.jobs_settings(jobs)
            settings = dataclasses.replace(recorded, floor_factor=args.floor_factor)
        summary = collect(args.dirs, args.out, settings=settings, figures=not args.no_figures)
    except FileNotFoundError as err:
        preflight.fail(f"dirs: {err}")
    except ValueError as err:
        preflight.fail(f"fit: {err}")
    print(  # noqa: T201
        f"{summary['rows']} rows from {len(summary['jobs'])} jobs "
        f"({summary['duplicates_dropped']} duplicates dropped) -> {args.out or args.dirs[0]}"
    )
    if args.table:
        print(fits.markdown(summary))  # noqa: T201


if __name__ == "__main__":
    main()
