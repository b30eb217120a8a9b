"""Redraws a run directory's figures from its saved files (no sampling, no JAX, no fitting).

``python -m experiments.plots DIR [--out OUT]`` reads ``DIR/rows.csv``, ``DIR/nearest.csv`` and
``DIR/summary.json`` and draws the rate app's figures (:mod:`experiments.figures.rate`) with the
fit table and the fit settings that summary recorded, so a redrawn figure shows the summary's
fits and nothing else. DIR is a job directory or a sweep directory that
``python -m experiments.collect`` has merged (it writes the merged rows and summary).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from experiments.figures import rate as rate_figures
from experiments.helpers import inclusion
from experiments.helpers import rows as rowlib

__all__ = ["main", "redraw"]


def redraw(directory: str | Path, out: str | Path | None = None) -> list[str]:
    """Draws the figures of ``directory`` from its rows and summary; returns the files written.

    Raises:
        FileNotFoundError: when ``directory`` lacks rows.csv or a summary.json with a fit table.
    """
    directory = Path(directory)
    try:
        summary = json.loads((directory / "summary.json").read_text())
    except (OSError, json.JSONDecodeError):
        summary = {}
    if "fits" not in summary or not (directory / "rows.csv").exists():
        raise FileNotFoundError(
            f"no rows.csv beside a summary.json with fits in {directory} (for a sweep, run "
            f"python -m experiments.collect {directory} first)"
        )
    rows, nearest, _ = rowlib.read_job(directory)
    settings = inclusion.recorded_settings(summary)
    return rate_figures.draw_all(rows, nearest, out or directory, summary["fits"], settings)


def main(argv: Sequence[str] | None = None) -> None:
    from experiments.helpers import preflight

    parser = preflight.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", type=Path, help="a run directory or a collected sweep directory")
    parser.add_argument("--out", type=Path, default=None, help="where figures go (default: dir)")
    args = parser.parse_args(argv)
    if not args.dir.is_dir():
        preflight.fail(f"dir: {args.dir} is not a directory")
    try:
        written = redraw(args.dir, args.out)
    except FileNotFoundError as err:
        preflight.fail(f"dir: {err}")
    print("wrote", ", ".join(written) or "nothing")  # noqa: T201


if __name__ == "__main__":
    main()
