"""The rows of a rate run as typed records, and how they are written, read and merged.

A :class:`Row` is one (method, n, seed) measurement of one job: what was measured (the
identity columns), the W1 estimate with what bounds its error, the memorization and geometry
metrics, and timings. rows.csv holds one per line, every float written with ``repr`` so that
reading it back gives the same numbers. A :class:`NearestRow` is one sample's two nearest
training distances (nearest.csv, for the memorization histograms).

Merging (:func:`merge`) keeps the first row of every identity: jobs of the same config run
twice give identical rows, so dropping the copy loses nothing, and duplicates whose results
disagree are counted, never averaged.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import math
import typing
from collections.abc import Iterable, Sequence
from pathlib import Path

from experiments.helpers import store
from idm.samplers import BANDWIDTH_METHODS

__all__ = [
    "IDENTITY",
    "NearestRow",
    "RESULTS",
    "Row",
    "columns",
    "merge",
    "merge_nearest",
    "read_csv",
    "read_job",
    "write_csv",
]


@dataclasses.dataclass(frozen=True)
class Row:
    """One (method, n, seed) cell of a rate run.

    Attributes:
        experiment, manifold, d, D: the run and its manifold (D the ambient dimension).
        n, seed, method: the cell: training-set size, seed, sampler.
        c: bandwidth constant (NaN for methods without one).
        sigma: c n^(-1/(d+4)).
        m, m_ref: samples evaluated, size of the population reference.
        evaluator, reference: how W1 was measured and against what.
        w1: the W1 estimate.
        w1_lower, w1_upper: its bracket where the evaluator gives one (NaN otherwise).
        w1_error: its error bar: half the bracket's width (bracket), the extrapolation's spread
            (extrapolated), the evaluator's own floor (plugin), or the Monte-Carlo standard
            error (semidiscrete).
        w1_kind: which of these: "bracket", "extrapolated", "plugin" or "semidiscrete".
        epsilon: Sinkhorn's final epsilon (0 otherwise).
        w1_floor: the plug-in floor: W1 between an iid population sample of size m (m_floor
            for the law evaluators) and the reference, by exact OT (or the row's evaluator).
        converged: this row's evaluation met its own checks (bracket not inverted, solvers
            optimal or certified).
        n_iters: solver iterations.
        copy_fraction: samples that copy a training point (``idm.memorization.is_copy``:
            nearest / nearest distinct training distance < 1/3).
        nn_median: median distance to the nearest training point.
        manifold_distance: mean distance to the manifold (a lower bound on W1).
        radial_shrinkage: E[1 - |x|] on spheres (NaN otherwise).
        predicted_shrinkage: d/2 sigma^2 for idm rows (NaN otherwise).
        w1_tangential: on the circle, W1 along the circle (arc-length cost) between the
            projected law x/|x| and the uniform law: the part that moves mass along the circle.
        evaluation: "span" (in the data's span, the law drawn by QMC) or "ambient" (samples in
            R^D against the reference, in frame coordinates).
        w1_parts: JSON of every bound the evaluator computed (law evaluators).
        sample_s, eval_s, seconds: wall time of sampling, of W1, of the whole row.
        duplicates: training rows merged into an earlier one by the copy rule's duplicate
            tolerance (``idm.memorization.distinct``; 0 in files written before it existed).
        train_s, train_steps, n_params: ``trained`` rows: what training cost (wall seconds
            when it was trained, compilation included; a cached model keeps its original
            time), optimiser steps and parameter count (NaN, 0, 0 for the training-free
            methods).
        nn_ratio_median: median over samples of nearest / second-nearest distinct training
            distance (the copy rule's statistic: below 1/3 is a copy; NaN in files written
            before it existed).
        c_by: how ``c`` was decided where the cell chose it (``idm_auto``: ``select_c``'s
            ``decided_by``, "guard" or "criterion"); "" where ``c`` is the config's.
        select_s: ``idm_auto`` rows: wall seconds of choosing c on the cell's training set
            (NaN otherwise).
    """

    experiment: str
    manifold: str
    d: int
    D: int
    n: int
    seed: int
    method: str
    c: float
    sigma: float
    m: int
    m_ref: int
    evaluator: str
    reference: str
    w1: float
    w1_lower: float
    w1_upper: float
    w1_error: float
    w1_kind: str
    epsilon: float
    w1_floor: float
    converged: bool
    n_iters: int
    copy_fraction: float
    nn_median: float
    manifold_distance: float
    radial_shrinkage: float
    predicted_shrinkage: float
    w1_tangential: float
    evaluation: str
    w1_parts: str
    sample_s: float
    eval_s: float
    seconds: float
    duplicates: int = 0
    train_s: float = math.nan
    train_steps: int = 0
    n_params: int = 0
    nn_ratio_median: float = math.nan
    c_by: str = ""
    select_s: float = math.nan

    def identity(self) -> tuple:
        """Which measurement this is (NaN, as in the c of methods without one, as None)."""
        return tuple(_none_if_nan(getattr(self, k)) for k in IDENTITY)

    def results(self) -> tuple:
        """The result columns compared between duplicates (NaN as None)."""
        return tuple(_none_if_nan(getattr(self, k)) for k in RESULTS)

    def as_dict(self) -> dict:
        """The columns as a plain dict (JSON checkpoints)."""
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class NearestRow:
    """One sample's distances to its two nearest training points (nearest.csv)."""

    manifold: str
    d: int
    D: int
    method: str
    n: int
    seed: int
    nn1: float
    nn2: float

    def group(self) -> tuple:
        """The (manifold, d, D, method, n, seed) group the sample belongs to."""
        return (self.manifold, self.d, self.D, self.method, self.n, self.seed)

    def as_dict(self) -> dict:
        """The columns as a plain dict (JSON checkpoints)."""
        return dataclasses.asdict(self)


#: The columns that say which measurement a row is (the rest is its result or timing).
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
#: Result columns compared between duplicates.
RESULTS = ("w1", "w1_floor", "copy_fraction", "nn_median", "manifold_distance")


def _none_if_nan(v):
    return None if isinstance(v, float) and math.isnan(v) else v


def columns(record: type) -> tuple[str, ...]:
    """The CSV columns of a record type, in order."""
    return tuple(f.name for f in dataclasses.fields(record))


def _parser(tp) -> typing.Callable[[str], object]:
    if tp is str:
        return str
    if tp is bool:
        return lambda v: v == "True"
    if tp is int:
        return lambda v: math.nan if v in ("", "nan", "None") else int(v)
    return lambda v: math.nan if v in ("", "nan", "None") else float(v)


def read_csv(path: str | Path, record: type = Row) -> list:
    """The records in a rows.csv (or, with ``record=NearestRow``, a nearest.csv).

    A column missing from an older file reads as the field's default, or NaN without one
    (``c`` before it existed).
    """
    hints = typing.get_type_hints(record)
    parse = {name: _parser(tp) for name, tp in hints.items()}
    defaults = {
        f.name: f.default
        for f in dataclasses.fields(record)
        if f.default is not dataclasses.MISSING
    }

    def value(raw, k):
        return defaults[k] if k not in raw and k in defaults else parse[k](raw.get(k, ""))

    with open(path, newline="") as f:
        return [record(**{k: value(raw, k) for k in parse}) for raw in csv.DictReader(f)]


def header(path: str | Path) -> list[str]:
    """The column names of a CSV file."""
    with open(path, newline="") as f:
        return next(csv.reader(f), [])


def _format(v):
    if v is None:
        return ""
    if isinstance(v, float):
        return "" if math.isnan(v) else repr(v)
    return v


def write_csv(path: str | Path, records: Iterable, cols: Sequence[str] | None = None) -> None:
    """Writes records atomically; floats keep every digit (repr), NaN and None are empty.

    Records are all of one dataclass type (its fields are the columns), or dicts with the
    columns given as ``cols`` (the trade-off app's rows).
    """
    records = list(records)
    if cols is None:
        cols = columns(type(records[0])) if records else columns(Row)
    with store.atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(cols))
        writer.writeheader()
        for r in records:
            get = r.__getitem__ if isinstance(r, dict) else functools.partial(getattr, r)
            writer.writerow({k: _format(get(k)) for k in cols})


def merge(tables: Sequence[list[Row]]) -> tuple[list[Row], int, int]:
    """Concatenates row tables keeping the first row of every identity.

    Returns:
        (rows, duplicates dropped, duplicates whose results disagreed with the kept row).
    """
    kept: dict[tuple, Row] = {}
    dropped = conflicts = 0
    for table in tables:
        for row in table:
            key = row.identity()
            if key in kept:
                dropped += 1
                conflicts += kept[key].results() != row.results()
            else:
                kept[key] = row
    return list(kept.values()), dropped, conflicts


def merge_nearest(tables: Sequence[list[NearestRow]]) -> list[NearestRow]:
    """Concatenates nearest-distance tables keeping the first table's copy of every group."""
    seen: set[tuple] = set()
    out: list[NearestRow] = []
    for table in tables:
        groups = {r.group() for r in table} - seen
        out += [r for r in table if r.group() in groups]
        seen |= groups
    return out


def read_job(job: str | Path) -> tuple[list[Row], list[NearestRow], dict | None]:
    """A job directory's rows, nearest distances and summary.

    Rows written before the ``c`` column existed get their job's ``method.c`` (NaN for the
    methods without a bandwidth).
    """
    job = Path(job)
    summary = store.job_summary(job / "summary.json")
    rows = read_csv(job / "rows.csv")
    c = ((summary or {}).get("config") or {}).get("method", {}).get("c")
    if c is not None and "c" not in header(job / "rows.csv"):
        nan = math.nan
        rows = [
            dataclasses.replace(r, c=float(c) if r.method in BANDWIDTH_METHODS else nan)
            for r in rows
        ]
    near = job / "nearest.csv"
    nearest = read_csv(near, NearestRow) if near.exists() else []
    return rows, nearest, summary
