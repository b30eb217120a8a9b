"""Novelty against fidelity on real data: copies, held-out W1 and a quality score, per method.

``python -m experiments.tradeoff [data_path=FILE] [splits=5] [c_grid=[...]] [methods=[...]]``
(schema: ``experiments.helpers.schemas.tradeoff.TradeoffConfig``; config root: conf/tradeoff/;
outputs in ``results/runs/tradeoff`` or ``hydra.run.dir=DIR``).

Default data: scikit-learn's bundled 8x8 digits (1797 images, values / 16, labels; no
download). For every split (a seeded permutation; ``test_fraction`` held out) and every
method, each at every c of the grid (idm, cfdm, kde; dm and the training set once, they have
no bandwidth) and IDM at ``c=auto`` (``idm.bandwidth.select_c`` on the training split: held-out
exact W1, guarded against copying, by bisection), with ``num_samples`` samples:

* ``copy_fraction``: samples whose nearest training point is 3 times closer than the nearest
  distinct one (``idm.memorization.is_copy``; ``duplicates``: training rows counted once);
* ``nn_median`` beside ``test_nn_median``: the median distance to the nearest training point of
  the samples and of the held-out points themselves (a sample set that is as far from the
  training points as new data is, is novel in the way data are);
* ``w1_test``: exact W1 (network simplex) between the samples and the held-out split, beside
  ``w1_floor``, exact W1 between two halves of the held-out split (what a perfect sampler of
  that size could not beat), and ``w1_train``, the training split's own W1 to the held-out one;
* ``train_s``: for ``trained`` (a score network, ``idm.trained``, trained on each training
  split in the sampler's unit-scale coordinates; on request, not in the default methods), the
  seconds its training took;
* ``confident``: for labelled data, the fraction of samples that a multinomial logistic
  regression fitted on the training split classifies with probability > 0.9, beside the same
  for the held-out images (``test_confident``). Chosen because it needs no download, trains in
  a second, and reads what a blurred average loses: a sharp digit is classified with
  confidence, a mean of several digits is not (``confidence`` is the mean top probability).

Outputs: rows.csv (one row per split, method, c), summary.json (per method and c the means
over splits with standard errors; c=auto's choices, what decided them, its held-out W1 against
the best grid c copying at most ``max_copy_fraction``, and its paired difference from the
training set), tradeoff.png (copy fraction and classifier confidence against held-out W1, one
curve per method over c, the training set and c=auto marked) and samples.png (samples of dm,
IDM at c=auto and sigma-CFDM beside their nearest training images).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import sys
import time
from pathlib import Path

import hydra
import jax
import numpy as np
from hydra.core.config_store import ConfigStore
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

import idm
from experiments.helpers import preflight, store, trained_models
from experiments.helpers.points import load_points
from experiments.helpers.rows import write_csv
from experiments.helpers.schemas.tradeoff import TradeoffConfig
from idm import bandwidth, intrinsic_dim, memorization, neighbours, rates, schedule, w1

log = logging.getLogger(__name__)

_CONF = Path(__file__).resolve().parents[1] / "conf" / "tradeoff"
# Streams of the root key (never reorder).
_SPLIT, _SAMPLE, _AUTO, _HALVES, _TRAIN = range(5)
BANDWIDTH = ("idm", "cfdm", "kde")
COLUMNS = (
    "split", "method", "c", "is_auto", "sigma", "d", "scale", "n_train", "n_test",
    "copy_fraction", "nn_median", "test_nn_median", "w1_test", "w1_floor", "w1_train",
    "confident", "confidence", "test_confident", "decided_by", "seconds", "duplicates",
    "train_s",
)  # fmt: skip

ConfigStore.instance().store(name="tradeoff_schema", node=preflight.schema_node(TradeoffConfig))


def to_config(cfg: DictConfig) -> TradeoffConfig:
    """The typed, checked config."""
    return preflight.typed_config(cfg)


def load(cfg: TradeoffConfig) -> tuple[np.ndarray, np.ndarray | None, str]:
    """The points, their labels (or None) and a name."""
    if cfg.data_path is not None:
        return load_points(cfg.data_path).astype(np.float64), None, str(cfg.data_path)
    from sklearn.datasets import load_digits

    digits = load_digits()
    return digits.data / 16.0, digits.target, "digits (scikit-learn, values / 16)"


def check(cfg: TradeoffConfig, data: np.ndarray) -> None:
    """Checks between the config and the data."""
    n, D = data.shape
    n_test = int(round(cfg.test_fraction * n))
    if n_test < 4 or n - n_test < 4:
        raise preflight.InputError(
            "test_fraction", f"leaves {n - n_test} training and {n_test} test points of {n}"
        )
    if cfg.d != "auto" and cfg.d > D:
        raise preflight.InputError("d", f"must be <= D = {D} (the data's dimension), got {cfg.d}")


class _Classifier:
    """Multinomial logistic regression on the training split: top-class probabilities."""

    def __init__(self, x, y):
        from sklearn.linear_model import LogisticRegression

        self.model = LogisticRegression(max_iter=2000).fit(x, y)

    def scores(self, x) -> tuple[float, float]:
        top = self.model.predict_proba(np.asarray(x)).max(axis=1)
        return float(np.mean(top > 0.9)), float(np.mean(top))


def _sample(key, method, train, m, d, sigma, scale):
    """``m`` samples of ``method`` (``sigma`` in data units; the sampler runs at unit scale)."""
    return np.asarray(
        idm.sample(key, train, m, method=method, d=d, sigma=sigma, scale=scale, solver="exact")
    )


def _trained_samples(cfg: TradeoffConfig, key, train, scale: float, split: int):
    """Samples of the network trained on ``(train - mean) / scale``, mapped back; its seconds.

    ``num_samples`` of them; a cached model keeps its original training time.
    """
    unit, centre = schedule.to_unit_scale(jax.numpy.asarray(train), scale)
    tc = cfg.trained
    model, _ = trained_models.fit(
        tc, jax.random.fold_in(key, _TRAIN), unit, label=f"split {split}", progress=cfg.progress
    )
    x = idm.sample(
        jax.random.fold_in(jax.random.fold_in(key, _SAMPLE), idm.samplers.METHODS.index("trained")),
        unit.astype(getattr(jax.numpy, tc.dtype)),
        cfg.num_samples,
        method="trained",
        model=model,
        solver=tc.solver,
        steps=tc.sample_steps,
        T=tc.T,
    )
    return np.asarray(centre + scale * x.astype(unit.dtype)), model.seconds


def _scores(x, classifier) -> dict:
    """The classifier's share of confident samples and mean top probability (NaN without one)."""
    confident, confidence = (math.nan, math.nan) if classifier is None else classifier.scores(x)
    return {"confident": confident, "confidence": confidence}


def _measure(x, training: memorization.TrainingIndex, test, classifier) -> dict:
    near = training.nearest(x)
    return {
        "copy_fraction": float(np.mean(training.is_copy(near))),
        "nn_median": float(np.median(near[:, 0])),
        "w1_test": float(w1.w1(x, test, method="exact")),
        **_scores(x, classifier),
    }


def _split_indices(cfg: TradeoffConfig, n: int, split: int, root):
    """The split's key and its test and training indices (a seeded permutation of n)."""
    key = jax.random.fold_in(jax.random.fold_in(root, _SPLIT), split)
    perm = np.asarray(jax.random.permutation(key, n))
    n_test = int(round(cfg.test_fraction * n))
    return key, perm[:n_test], perm[n_test:]


def run_split(cfg: TradeoffConfig, data, labels, split: int, root) -> list[dict]:
    """Every row of one train/test split."""
    key, test_idx, train_idx = _split_indices(cfg, len(data), split, root)
    test, train = data[test_idx], data[train_idx]
    n_test = len(test_idx)
    classifier = None
    test_conf = math.nan
    if labels is not None:
        classifier = _Classifier(train, labels[train_idx])
        test_conf = classifier.scores(test)[0]
    d = intrinsic_dim.estimate(train).d if cfg.d == "auto" else int(cfg.d)
    scale = bandwidth.length_scale(train) if cfg.scale == "auto" else float(cfg.scale)
    training = memorization.TrainingIndex(train)  # the copy rule's distinct points
    test_nn = float(np.median(training.index.knn(test, 1).distances[:, 0]))
    halves = np.asarray(jax.random.permutation(jax.random.fold_in(key, _HALVES), n_test))
    h = n_test // 2
    floor = float(w1.w1(test[halves[:h]], test[halves[h:]], method="exact"))
    w1_train = float(w1.w1(train, test, method="exact"))
    base = dict(split=split, d=d, scale=scale, n_train=len(train), n_test=n_test,
                duplicates=training.duplicates,
                test_nn_median=test_nn, w1_floor=floor, w1_train=w1_train,
                test_confident=test_conf, decided_by="")  # fmt: skip
    sample_key = jax.random.fold_in(key, _SAMPLE)
    jobs = []
    for method in cfg.methods:
        for c in cfg.c_grid if method in BANDWIDTH else [math.nan]:
            jobs.append((method, c, False, ""))
    if cfg.auto and "idm" in cfg.methods:
        res = bandwidth.select_c(jax.random.fold_in(key, _AUTO), train, d, scale=scale,
                                 max_copy_fraction=cfg.max_copy_fraction)  # fmt: skip
        jobs.append(("idm", res.c, True, res.decided_by))
    rows = []
    for method, c, is_auto, decided in jobs:
        t0 = time.perf_counter()
        sigma = schedule.bandwidth(len(train), d, c, scale) if math.isfinite(c) else 1.0
        row = dict(base, method=method, c=c, is_auto=is_auto,
                   sigma=sigma if math.isfinite(c) else math.nan, decided_by=decided)  # fmt: skip
        row["train_s"] = math.nan
        if method == "train":  # its nearest training point is itself: not a copy statistic
            row.update(copy_fraction=1.0, nn_median=0.0, w1_test=w1_train,
                       **_scores(train, classifier))  # fmt: skip
        elif method == "trained":  # the network, in the sampler's unit-scale coordinates
            x, row["train_s"] = _trained_samples(cfg, key, train, scale, split)
            row.update(_measure(x, training, test, classifier))
        else:
            k = jax.random.fold_in(sample_key, idm.samplers.METHODS.index(method))
            x = _sample(k, method, train, cfg.num_samples, d, sigma, scale)
            row.update(_measure(x, training, test, classifier))
        row["seconds"] = time.perf_counter() - t0
        rows.append(row)
    return rows


def _mean_se(v) -> tuple[float, float]:
    """Mean and standard error over splits of the finite values (a missing score is NaN)."""
    return rates.mean_se([x for x in v if math.isfinite(x)])


def summarise(cfg: TradeoffConfig, rows: list[dict]) -> dict:
    """Means over splits per (method, c); c=auto against the grid and the training set."""
    curves = {}
    for method in cfg.methods:
        cs = sorted({r["c"] for r in rows if r["method"] == method and not r["is_auto"]},
                    key=lambda c: -1 if math.isnan(c) else c)  # fmt: skip
        curve = []
        for c in cs:
            grp = [r for r in rows if r["method"] == method and not r["is_auto"]
                   and (r["c"] == c or (math.isnan(c) and math.isnan(r["c"])))]  # fmt: skip
            entry = {"c": None if math.isnan(c) else c}
            for k in ("copy_fraction", "nn_median", "w1_test", "confident", "confidence"):
                entry[k], entry[k + "_se"] = _mean_se(r[k] for r in grp)
            curve.append(entry)
        curves[method] = curve
    out = {"curves": curves}
    for k in ("w1_floor", "w1_train", "test_nn_median", "test_confident"):
        out[k], out[k + "_se"] = _mean_se(r[k] for r in rows if r["method"] == rows[0]["method"])
    auto = [r for r in rows if r["is_auto"]]
    if auto:
        per = []
        for r in auto:
            grid = [
                g
                for g in rows
                if g["split"] == r["split"] and g["method"] == "idm" and not g["is_auto"]
                and g["copy_fraction"] <= cfg.max_copy_fraction
            ]  # fmt: skip
            best = min(grid, key=lambda g: g["w1_test"]) if grid else None
            per.append({
                "split": r["split"], "c": r["c"], "decided_by": r["decided_by"],
                "copy_fraction": r["copy_fraction"], "w1_test": r["w1_test"],
                "w1_train": r["w1_train"], "confident": r["confident"],
                "best_grid_c": None if best is None else best["c"],
                "best_grid_w1": None if best is None else best["w1_test"],
                "rel_to_best_grid": None if best is None else r["w1_test"] / best["w1_test"] - 1,
            })  # fmt: skip
        diff = [p["w1_test"] - p["w1_train"] for p in per]
        diff_mean, diff_se = _mean_se(diff)
        rel = [p["rel_to_best_grid"] for p in per if p["rel_to_best_grid"] is not None]
        out["auto"] = {
            "per_split": per,
            "c_mean": float(np.mean([p["c"] for p in per])),
            "max_copy_fraction": float(max(p["copy_fraction"] for p in per)),
            "rel_to_best_grid_max": float(max(rel)) if rel else None,
            "rel_to_best_grid_mean": float(np.mean(rel)) if rel else None,
            "w1_minus_train_mean": diff_mean,
            "w1_minus_train_se": diff_se,
            "beats_train_in": int(sum(x < 0 for x in diff)),
            "splits": len(per),
        }
    return out


def _figures(cfg: TradeoffConfig, rows, summary, points, out: Path, root) -> list[str]:
    """tradeoff.png, and samples.png (dm, IDM at c=auto, sigma-CFDM on split 0) for images."""
    from experiments.figures import tradeoff as tradeoff_figures

    written = []
    tradeoff_figures.tradeoff_figure(rows, summary, out / "tradeoff.png", cfg.max_copy_fraction)
    written.append("tradeoff.png")
    side = int(round(math.sqrt(points.shape[1])))
    auto = [r for r in rows if r["is_auto"] and r["split"] == 0]
    if side * side == points.shape[1] and auto:
        key, _, train_idx = _split_indices(cfg, len(points), 0, root)
        train = points[train_idx]
        r = auto[0]
        panels = []
        for method in ("dm", "idm", "cfdm"):
            if method not in cfg.methods:
                continue
            sigma = schedule.bandwidth(len(train), r["d"], r["c"], r["scale"])
            x = _sample(jax.random.fold_in(key, 77), method, train, 8, r["d"], sigma, r["scale"])
            nearest = train[neighbours.knn(x, train, 1).indices[:, 0]]
            label = f"idm, c=auto ({r['c']:.3g})" if method == "idm" else method
            if method == "cfdm":
                label = f"sigma-CFDM at the same sigma ({sigma:.3g})"
            panels.append((label, x, nearest))
        tradeoff_figures.sample_grid(panels, side, out / "samples.png")
        written.append("samples.png")
    return written


def _progress(cfg, total):
    from tqdm.auto import tqdm

    return tqdm(total=total, disable=not (cfg.progress and sys.stderr.isatty()), unit="split")


def run(cfg: TradeoffConfig, out_dir: str | Path | None = None, data=None) -> dict:
    """Runs every split, writes rows.csv, summary.json and the figures; returns the summary."""
    t0 = time.perf_counter()
    out = Path(out_dir if out_dir is not None else HydraConfig.get().runtime.output_dir)
    points, labels, name = load(cfg) if data is None else data
    check(cfg, points)
    root = jax.random.key(cfg.seed)
    rows = []
    with _progress(cfg, cfg.splits) as bar:
        for split in range(cfg.splits):
            rows += run_split(cfg, points, labels, split, root)
            bar.update()
    summary = summarise(cfg, rows)
    summary.update(
        data=name, n=int(len(points)), D=int(points.shape[1]),
        config=dataclasses.asdict(cfg), runtime_s=time.perf_counter() - t0,
        environment={"jax": jax.__version__, "backend": jax.default_backend(),
                     "x64": bool(jax.config.jax_enable_x64)},
    )  # fmt: skip
    write_csv(out / "rows.csv", rows, COLUMNS)
    if cfg.figures:
        summary["figures"] = _figures(cfg, rows, summary, points, out, root)
    store.write_json(out / "summary.json", summary)
    a = summary.get("auto")
    if a:
        log.info("c=auto: c = %.3g (mean), max copy fraction %.4f, W1 %+.2f%% of the best grid c "
                 "at most; W1 - train W1 = %.4f +- %.4f", a["c_mean"], a["max_copy_fraction"],
                 100 * (a["rel_to_best_grid_max"] or math.nan), a["w1_minus_train_mean"],
                 a["w1_minus_train_se"])  # fmt: skip
    return summary


# The data the command line's guard loaded, by data_path, for its jobs: one read per file.
_LOADED: dict = {}


def check_run(cfg: TradeoffConfig) -> None:
    """The checks that need the data, for the command line's guard.

    A bad data file is refused before Hydra writes anything (its run directory and log).
    """
    data = _LOADED[cfg.data_path] = load(cfg)
    check(cfg, data[0])


@hydra.main(version_base="1.3", config_path=str(_CONF), config_name="tradeoff")
def main(cfg: DictConfig) -> None:
    rc = to_config(cfg)
    jax.config.update("jax_enable_x64", rc.x64)

    def load_checked():
        data = _LOADED.get(rc.data_path) or load(rc)
        check(rc, data[0])
        return data

    run(rc, data=preflight.refuse(load_checked))


if __name__ == "__main__":
    from experiments.tradeoff import _CONF, check_run, main, to_config

    preflight.guard(
        sys.argv[1:],
        conf_dir=_CONF,
        config_name="tradeoff",
        to_config=to_config,
        check=check_run,
        groups=(),
    )
    main()
