"""Fitted rates from saved rows: the exponent table of summary.json, the crossover, labels.

Pure functions of :class:`~experiments.helpers.rows.Row` lists (no JAX, no files):

* :func:`fit_table`: per (manifold, d, D, method) the fitted W1 exponent with its 95% interval
  (``idm.rates.fit_rate``, bootstrap over seeds), the n used and dropped (by the rules of
  :mod:`experiments.helpers.inclusion`), the lower / upper half local slopes, and for IDM the
  floor-free fit of its mean distance to the manifold;
* :func:`crossover`: where IDM's W1 is below the training set's (semidiscrete evaluator);
* :func:`labelled`: rows of one method with several bandwidth constants kept apart;
* :func:`markdown`: the README's tables from a summary.
"""

from __future__ import annotations

import dataclasses
import math
from collections import defaultdict
from collections.abc import Iterable

import numpy as np

from experiments.helpers import inclusion, store
from experiments.helpers.rows import Row
from experiments.helpers.schemas import AUTO_METHODS, FitConfig
from experiments.helpers.schemas import RATE_METHODS as METHODS
from idm.rates import fit_rate, local_slopes, pairwise_slopes, reference_exponent, two_term_fit

__all__ = [
    "BIAS_METHODS",
    "crossover",
    "fit_table",
    "group_key",
    "labelled",
    "markdown",
    "mean_band",
    "ordered",
]

# Methods whose samples leave the manifold by a bandwidth-driven bias (IDM's O(sigma^2) pull
# toward the local mean); their mean distance to the manifold gets its own fit.
BIAS_METHODS = ("idm",)


def group_key(row) -> tuple:
    """The (manifold, d, D) panel a row belongs to."""
    return (row.manifold, int(row.d), int(row.D))


def base_method(label: str) -> str:
    """The method of a label such as ``"idm c=0.5"``."""
    return label.split()[0]


def library_method(label: str) -> str:
    """The library method a label's rows sample (``idm_auto`` is ``idm`` at a chosen c)."""
    return AUTO_METHODS.get(base_method(label), base_method(label))


def labelled(rows: list[Row]) -> list[Row]:
    """Rows whose ``method`` reads "idm c=0.5" where one (manifold, d, D) has several c.

    A multirun over ``method.c`` puts rows of the same method with different bandwidth
    constants in one table; fits and figures must keep them apart. Rows without a ``c``
    (methods that do not use sigma, or files from before the column existed) are unchanged, and
    so are the methods that choose c per cell (``idm_auto``: its c is a result, not a setting).
    """
    cs = defaultdict(set)
    for r in rows:
        if math.isfinite(r.c) and r.method not in AUTO_METHODS:
            cs[(*group_key(r), r.method)].add(r.c)
    out = []
    for r in rows:
        if len(cs.get((*group_key(r), r.method), ())) > 1:
            r = dataclasses.replace(r, method=f"{r.method} c={r.c:g}")
        out.append(r)
    return out


def ordered(methods: Iterable[str]) -> list[str]:
    """Method labels in the library's order of methods, other labels after them, sorted."""
    methods = set(methods)
    return [m for m in METHODS if m in methods] + sorted(methods - set(METHODS))


def mean_band(grp: list[Row], key: str, x: str = "n"):
    """``xs, mean, min, max`` of column ``key`` over the rows at each value of column ``x``."""
    by_x = defaultdict(list)
    for r in grp:
        by_x[getattr(r, x)].append(getattr(r, key))
    xs = np.array(sorted(by_x), float)
    v = [np.array(by_x[k], float) for k in sorted(by_x)]
    return (
        xs,
        np.array([a.mean() for a in v]),
        np.array([a.min() for a in v]),
        np.array([a.max() for a in v]),
    )


def _matrix(rows: list[Row], key: str):
    """Pivots rows of one method to ns (k,), values (k, s) over the seeds present at every n.

    Returns ns, values, floors, the largest relative W1 error bar per n, and the n dropped by
    :func:`experiments.helpers.inclusion.usable` (a missing, non-finite or unconverged entry).
    """
    cells = defaultdict(dict)
    for r in rows:
        cells[int(r.n)][int(r.seed)] = r
    seeds = sorted(set.intersection(*(set(c) for c in cells.values())))
    ns, vals, floors, rel, bad = [], [], [], [], []
    for n in sorted(cells):
        cell = [cells[n][s] for s in seeds]
        if not inclusion.usable(cell, key):
            bad.append(n)
            continue
        ns.append(n)
        vals.append(np.array([getattr(c, key) for c in cell], float))
        floors.append(np.array([c.w1_floor for c in cell], float))
        rel.append(max(c.w1_error / c.w1 for c in cell) if key == "w1" else 0.0)
    return np.array(ns), np.array(vals), np.array(floors), np.array(rel), bad


def _halves(ls) -> dict:
    return {
        half: {"exponent": f.exponent, "ci": list(f.ci), "ns_used": list(f.ns_used)}
        for half, f in (("lower", ls.lower), ("upper", ls.upper))
    }


def _component_fit(grp: list[Row], key: str, n_boot: int) -> dict | None:
    """A floor-free part of W1 (a Monte-Carlo mean over the draws): exponent and slopes."""
    ns, vals, _, _, bad = _matrix(grp, key)
    if bad or len(ns) < 3:
        return None
    fit = fit_rate(ns, vals, n_boot=n_boot)
    return {
        "exponent": fit.exponent,
        "ci": list(fit.ci),
        "ns_used": list(fit.ns_used),
        "local_slopes": _halves(local_slopes(ns, vals, n_boot=n_boot)),
        "slopes_per_doubling": [p.to_dict() for p in pairwise_slopes(ns, vals, n_boot=n_boot)],
        "values": vals.mean(axis=1).tolist(),
    }


def fit_table(rows: list[Row], settings: FitConfig | None = None) -> list[dict]:
    """Fitted W1 exponents per (manifold, d, D, method), JSON-ready.

    Which points enter: :mod:`experiments.helpers.inclusion` (rows measured with an error bar
    where every seed's bar is under ``settings.max_rel_error`` of its value; plug-in rows above
    ``settings.floor_factor`` times their floor); ``settings.n_boot`` bootstrap resamples.

    Each entry: manifold, d, D, method, predicted_exponent (-2/(d+4)), reference_exponent (see
    :func:`idm.rates.reference_exponent`), exponent, ci, se, interval, ns_used, n_range,
    dropped (the points the rule left out), rule, rel_errors (the largest relative error bar
    per n), dropped_invalid (missing, non-finite or unconverged), local_slopes (lower and upper
    half of the used n range), slopes_per_doubling (between consecutive used n, with
    intervals), bracket_ends (the exponents of the error bars' lower and upper ends over the
    same n), and for IDM two_term (``a n^(-2/(d+4)) + b n^(-1/2)`` over the used n, with its
    residual: :func:`idm.rates.two_term_fit`) and the floor-free parts: distance_to_manifold
    (the radial bias) and, on the circle, tangential (W1 along the circle of the projected
    law); or ``error`` when no fit exists.
    """
    settings = FitConfig() if settings is None else settings
    groups = defaultdict(list)
    for r in labelled(rows):
        groups[(*group_key(r), r.method)].append(r)
    return [_fit_entry(key, grp, settings) for key, grp in sorted(groups.items())]


def _fit_entry(key: tuple, grp: list[Row], settings: FitConfig) -> dict:
    """One method's entry of the fit table: header, selection, the W1 fit and its companions."""
    manifold, d, D, method = key
    ns, vals, floors, rel, bad = _matrix(grp, "w1")
    error_bar = inclusion.by_error_bar(grp)
    entry = {
        "manifold": manifold,
        "d": d,
        "D": D,
        "method": method,
        "predicted_exponent": reference_exponent("idm", d),
        "reference_exponent": reference_exponent(library_method(method), d),
        "n_seeds": int(vals.shape[1]) if vals.ndim == 2 else 0,
        "dropped_invalid": bad,
    }
    chosen = inclusion.select(ns, vals, floors, rel, error_bar=error_bar, settings=settings)
    entry["rule"] = chosen.rule
    if error_bar:
        entry["rel_errors"] = {str(int(n)): float(e) for n, e in zip(ns, rel, strict=True)}
    if chosen.too_few:
        entry["error"] = chosen.too_few
        if error_bar:
            entry["dropped"] = [int(n) for n in ns[~chosen.keep]]
    else:
        _w1_fit(entry, grp, ns, vals, chosen.keep, error_bar, settings.n_boot)
    _floor_free_parts(entry, grp, method, settings.n_boot)  # they need no W1 error bar
    return entry


def _w1_fit(entry: dict, grp, ns, vals, keep, error_bar: bool, n_boot: int) -> None:
    """The W1 fit over the kept n, its local slopes, bracket ends and (IDM) two-term fit."""
    fit = fit_rate(ns, vals, keep=keep, n_boot=n_boot)
    entry.update(
        exponent=fit.exponent,
        intercept=fit.intercept,
        ci=list(fit.ci),
        se=fit.se,
        interval=fit.interval,
        ns_used=list(fit.ns_used),
        n_range=[fit.ns_used[0], fit.ns_used[-1]],
        dropped=sorted(fit.dropped),
    )
    if len(fit.ns_used) >= 3:
        entry["local_slopes"] = _halves(local_slopes(ns, vals, keep=keep, n_boot=n_boot))
    if keep.sum() >= 2:
        pairs = pairwise_slopes(ns[keep], vals[keep], n_boot=n_boot)
        entry["slopes_per_doubling"] = [p.to_dict() for p in pairs]
    if error_bar:
        entry["bracket_ends"] = _bracket_ends(grp, fit.ns_used, n_boot)
    if keep.sum() >= 3 and entry["method"] == "idm":
        entry["two_term"] = two_term_fit(ns[keep], vals[keep], entry["d"]).to_dict()


def _bracket_ends(grp: list[Row], ns_used, n_boot: int) -> dict:
    """Exponents of the error bars' lower and upper ends over the n the W1 fit used.

    The bracket's middle is the fitted value; where one end is tight and the other loose (on
    S^d the lower end is near W1, the matched upper end carries the draws' quantisation), the
    two ends' exponents show how far the error bars alone could move the fitted exponent.
    """
    out = {}
    for end in ("w1_lower", "w1_upper"):
        ns, vals, _, _, _ = _matrix(grp, end)
        keep = np.isin(ns, np.asarray(ns_used, float))
        if keep.sum() >= 2:
            f = fit_rate(ns[keep], vals[keep], n_boot=n_boot)
            out[end.removeprefix("w1_")] = {"exponent": f.exponent, "ci": list(f.ci)}
    return out


def _floor_free_parts(entry: dict, grp, method: str, n_boot: int) -> None:
    """For IDM: the fits of the distance to the manifold and, on the circle, the on-circle W1.

    Every coupling of the samples' law with the population moves each sample at least to the
    manifold, so the mean distance to it is a lower bound on W1(law, population) with no
    evaluation floor (a Monte-Carlo mean over m samples); for IDM it is the O(sigma^2) bias
    term that sets the predicted rate. A part is left out when a row lacks it or it is not
    positive.
    """
    if base_method(method) not in BIAS_METHODS:
        return
    bias = _component_fit(grp, "manifold_distance", n_boot)
    if bias is not None:
        entry["distance_to_manifold"] = bias
    if all(math.isfinite(r.w1_tangential) for r in grp):
        tangential = _component_fit(grp, "w1_tangential", n_boot)
        if tangential is not None:
            entry["tangential"] = tangential


def crossover(rows: list[Row]) -> list[dict]:
    """Where IDM's mean W1 is below the training set's, per (manifold, d, D) and IDM label.

    Only for the semidiscrete evaluator, where the training set's W1 is exact (no floor on the
    population side) and, by convexity of W1 (Jensen), the m-sample W1 of IDM is biased up:
    IDM below the training set at an n means IDM's law is closer to the population than the
    training set is (up to the standard errors). JSON-ready.
    """
    rows = [r for r in labelled(rows) if r.evaluator == "semidiscrete"]
    out = []
    groups = defaultdict(list)
    for r in rows:
        groups[group_key(r)].append(r)
    for key, grp in sorted(groups.items()):
        train = {
            n: m
            for n, m, _, _ in zip(
                *mean_band([r for r in grp if r.method == "train"], "w1"), strict=True
            )
        }
        for label in ordered({r.method for r in grp} - {"train"}):
            if base_method(label) != "idm" or not train:
                continue
            ns, mean, _, _ = mean_band([r for r in grp if r.method == label], "w1")
            below = [int(n) for n, v in zip(ns, mean, strict=True) if n in train and v < train[n]]
            out.append(
                {
                    "manifold": key[0],
                    "d": key[1],
                    "D": key[2],
                    "method": label,
                    "ns": [int(n) for n in ns],
                    "w1": mean.tolist(),
                    "w1_train": [train.get(n, math.nan) for n in ns],
                    "n_where_idm_below_train": below,
                }
            )
    return out


def _fmt(v, spec=".3f"):
    return "" if v is None else format(v, spec)


def markdown(summary: dict) -> str:
    """The README's tables of fitted exponents from a summary.json.

    An interval written as null (no interval: one seed at two n) prints as nan, as before
    summaries were strict JSON.
    """
    lines = [
        "| manifold | d | D | method | exponent [95% CI] | predicted | n used "
        "| local slope lower / upper half |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for f in summary["fits"]:
        if f.get("exponent") is None:
            continue
        lo, hi = map(store.nan_if_none, f["ci"])
        ls = f.get("local_slopes") or {}
        halves = " / ".join(_fmt((ls.get(h) or {}).get("exponent")) for h in ("lower", "upper"))
        lines.append(
            f"| {f['manifold']} | {f['d']} | {f['D']} | {f['method']} | "
            f"{f['exponent']:.3f} [{lo:.3f}, {hi:.3f}] | {_fmt(f['reference_exponent'])} | "
            f"{min(f['ns_used'])}-{max(f['ns_used'])} | {halves if ls else ''} |"
        )
    bias = [f for f in summary["fits"] if f.get("distance_to_manifold")]
    if bias:
        lines += [
            "",
            "| manifold | d | D | method | distance to manifold: exponent [95% CI] | predicted "
            "| n used | local slope lower / upper half |",
            "|---|---|---|---|---|---|---|---|",
        ]
    for f in bias:
        b = f["distance_to_manifold"]
        lo, hi = map(store.nan_if_none, b["ci"])
        halves = " / ".join(_fmt(b["local_slopes"][h]["exponent"]) for h in ("lower", "upper"))
        lines.append(
            f"| {f['manifold']} | {f['d']} | {f['D']} | {f['method']} | "
            f"{b['exponent']:.3f} [{lo:.3f}, {hi:.3f}] | {_fmt(f['predicted_exponent'])} | "
            f"{min(b['ns_used'])}-{max(b['ns_used'])} | {halves} |"
        )
    return "\n".join(lines)
