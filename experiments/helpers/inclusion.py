"""Which points enter a rate fit: the experiments' three rules, in one place.

``idm.rates.fit_rate`` applies no rule; it fits the points a ``keep`` mask names. The rules:

* a cell (one n, the seeds present at every n) is usable only when every seed's value is
  finite and positive and its evaluation converged (:func:`usable`); the others are listed as
  ``dropped_invalid``;
* rows measured with an error bar (:data:`ERROR_BAR_KINDS`, the law evaluators) enter where
  every seed's error bar is under ``max_rel_error`` of its value (:func:`tight_error_bars`);
* the other rows (plug-in W1 between samples, which has a floor of its own) enter where the
  seed-mean W1 is above ``floor_factor`` times the seed-mean floor (:func:`above_floor`).

The settings are an ``experiments.helpers.schemas.FitConfig``. A summary.json records the ones
its fits used (``fit_settings``; a job's summary also has them in ``config.fit``), and
:func:`recorded_settings` reads them back, so a figure redrawn from a summary applies the rule
its fits applied.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

import numpy as np

from experiments.helpers.schemas import FitConfig

__all__ = [
    "ERROR_BAR_KINDS",
    "Selection",
    "above_floor",
    "by_error_bar",
    "jobs_settings",
    "recorded_settings",
    "select",
    "tight_error_bars",
    "usable",
]

# Kinds of W1 rows whose error bar decides whether a point enters the fit (the others: the floor).
ERROR_BAR_KINDS = ("bracket", "extrapolated")


def usable(cell: Sequence, key: str) -> bool:
    """Whether a cell's rows (one n, every seed) can be fitted: finite, positive, converged."""
    v = np.array([getattr(r, key) for r in cell], float)
    return bool(np.all(np.isfinite(v)) and np.all(v > 0) and all(r.converged for r in cell))


def by_error_bar(rows: Iterable) -> bool:
    """Whether a method's W1 rows are judged by their error bars (else by the floor)."""
    rows = list(rows)
    return bool(rows) and all(r.w1_kind in ERROR_BAR_KINDS for r in rows)


def tight_error_bars(rel_errors, max_rel_error: float) -> np.ndarray:
    """Mask (k,): the largest relative error bar over the seeds at each n is under the bound."""
    return np.asarray(rel_errors, float) < max_rel_error


def above_floor(values, floors, floor_factor: float) -> np.ndarray:
    """Mask (k,): seed-mean value (k, s) above ``floor_factor`` times the seed-mean floor.

    Raises:
        ValueError: on a non-finite floor (a plug-in row without its floor cannot be judged).
    """
    values = np.asarray(values, float).reshape(len(values), -1) if len(values) else np.zeros(0)
    floors = np.asarray(floors, float)
    if not np.all(np.isfinite(floors)):
        raise ValueError("floors must be finite")
    if not len(values):
        return np.zeros(0, bool)
    return values.mean(axis=1) > floor_factor * floors.reshape(len(floors), -1).mean(axis=1)


@dataclasses.dataclass(frozen=True)
class Selection:
    """The points a rule keeps, and what the summary says about it.

    Attributes:
        keep: boolean mask over the usable n (increasing).
        rule: the rule in words (the summary's ``rule``).
        too_few: why no fit exists when fewer than two points are kept (the summary's
            ``error``); empty when two or more are.
    """

    keep: np.ndarray
    rule: str
    too_few: str


def select(ns, values, floors, rel_errors, *, error_bar: bool, settings: FitConfig) -> Selection:
    """The rule for one method's W1 points: error bars (law evaluators) or the floor."""
    ns = np.asarray(ns)
    if error_bar:
        keep = tight_error_bars(rel_errors, settings.max_rel_error)
        rule = f"error bar < {settings.max_rel_error:g} of the value"
        why = f"fewer than two n with every error bar under {settings.max_rel_error:g} of the value"
    else:
        keep = above_floor(values, floors, settings.floor_factor)
        rule = f"mean W1 > {settings.floor_factor:g} x floor"
        dropped = [int(n) for n in ns[~keep]]
        why = (
            f"fewer than two points above {settings.floor_factor} x the floor (dropped n = "
            f"{dropped}); enlarge the evaluation sample or the n range"
        )
    return Selection(keep=keep, rule=rule, too_few=why if keep.sum() < 2 else "")


def recorded_settings(summary: dict | None) -> FitConfig:
    """The fit settings a summary.json recorded (defaults for any it does not name).

    A merged summary records them as ``fit_settings``; a job's summary as ``config.fit``.
    """
    summary = summary or {}
    fit = summary.get("fit_settings") or (summary.get("config") or {}).get("fit") or {}
    names = {f.name for f in dataclasses.fields(FitConfig)}
    return FitConfig(**{k: v for k, v in fit.items() if k in names})


def jobs_settings(summaries: Iterable[dict | None]) -> FitConfig:
    """The one set of fit settings the jobs' summaries recorded.

    Raises:
        ValueError: when the jobs were fitted with different settings (their merged fit would
            follow none of them).
    """
    found = {recorded_settings(s) for s in summaries}
    if len(found) > 1:
        raise ValueError(
            f"the jobs were fitted with different settings: {sorted(map(str, found))}; "
            "pass the settings to use"
        )
    return found.pop() if found else FitConfig()
