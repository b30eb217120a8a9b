"""W1 and copying of a trained score network along its training, beside IDM and the training set.

    python -m experiments.studies.trained_checkpoints [OUT_DIR] [--overwrite]
    (default results/trained_checkpoints)

S^2 in D = 100 (the frame, training sets and references of ``experiment=trained``, seed 0), n in
{256, 1024}: one network (the ``trained`` defaults, but 16000 steps, so the cosine schedule
spans the whole run) evaluated at 8 log-spaced step counts 125 * 2^k, k = 0..7. At each
checkpoint the EMA weights draw m = 2048 samples (reverse SDE, 100 steps) and get the exact
plug-in W1 against the seed's reference, the copy fraction and the nearest-neighbour distance
ratio; IDM (c = 1, exact sampler) and the training set get the same plug-in beside them, so all
three share one evaluator and one floor. Writes checkpoints.json and checkpoints.png.
"""

import dataclasses
import time

import jax
import numpy as np

import idm
from experiments.helpers import cells, evaluation, preflight, store
from experiments.helpers.schemas import ManifoldConfig, RunConfig, SweepConfig, TrainedConfig
from idm import memorization, trained


def _measure(sweep, ref, training, x, seed, n, tag):
    man = sweep.man
    res = evaluation.w1_in_frame(
        evaluation.frame_coordinates(man, x),
        ref.points,
        sweep.cfg.evaluator.plugin,
        jax.random.fold_in(jax.random.key(7), tag),
        None,
    )
    nearest = training.nearest(evaluation.frame_coordinates(man, x))
    ratio = nearest[:, 0] / np.maximum(nearest[:, 1], 1e-300)
    return dict(
        w1=float(res.value),
        w1_floor=float(ref.floor.value),
        copy_fraction=float(np.mean(training.is_copy(nearest))),
        nn_ratio_median=float(np.median(ratio)),
        manifold_distance=float(memorization.distance_to_manifold(x, man)),
    )


def main(argv=None, ns=(256, 1024), seed=0, steps=16000, m=2048, chunk=125):
    out = preflight.study_output(__doc__, "results/trained_checkpoints", argv,
                                 file_name="checkpoints.json")  # fmt: skip
    jax.config.update("jax_enable_x64", True)
    cfg = RunConfig(
        name="trained",
        manifold=ManifoldConfig(name="sphere", d=2, D=100),
        sweep=SweepConfig(ns=tuple(ns), seeds=1, m=m),
        trained=TrainedConfig(steps=steps, chunk=chunk, cache_dir=""),
    )
    sweep = cells.Sweep.create(cfg)
    ref = sweep.reference(seed)
    checkpoints = {chunk * 2**k for k in range(8) if chunk * 2**k <= steps}
    rows = []
    for n in ns:
        data = sweep.man.sample(cells._key(sweep.root, cells._DATA, seed, n), n)
        training = memorization.TrainingIndex(evaluation.frame_coordinates(sweep.man, data))
        for method in ("idm", "train"):
            key = cells._key(sweep.root, cells._SAMPLE, seed, n, idm.samplers.METHODS.index(method))
            x = cells._sample(cfg, key, data, method, n, m)
            rows.append(dict(n=n, method=method, steps=0, train_s=0.0,
                             **_measure(sweep, ref, training, x, seed, n, 0)))  # fmt: skip
            print(rows[-1], flush=True)
        t0 = time.perf_counter()
        paused = [0.0]

        def callback(done, loss, model, n=n, data=data, training=training, t0=t0, paused=paused):
            if done not in checkpoints:
                return
            t1 = time.perf_counter()
            key = cells._key(sweep.root, cells._SAMPLE, seed, n, 6)
            x = cells._sample(cfg, key, data, "trained", n, m, model)
            rows.append(dict(n=n, method="trained", steps=done, loss=loss,
                             train_s=t1 - t0 - paused[0],
                             **_measure(sweep, ref, training, x, seed, n, done)))  # fmt: skip
            print(rows[-1], flush=True)
            paused[0] += time.perf_counter() - t1

        tc = cfg.trained.train_config()
        trained.train(
            cells._key(sweep.root, cells._TRAIN, seed, n),
            np.asarray(data, np.float32),
            tc,
            callback=callback,
        )
    store.write_json(out, dict(config=dataclasses.asdict(cfg), rows=rows))
    _figure(rows, out.with_suffix(".png"))


def redraw(path="results/trained_checkpoints/checkpoints.json"):
    """Redraws checkpoints.png from the saved rows (no JAX work)."""
    import json
    from pathlib import Path

    _figure(json.loads(Path(path).read_text())["rows"], Path(path).with_suffix(".png"))


def _figure(rows, path):
    import matplotlib.pyplot as plt

    ns = sorted({r["n"] for r in rows})
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4), constrained_layout=True)
    colors = dict(zip(ns, ("C0", "C3", "C2"), strict=False))
    for n in ns:
        tr = sorted((r for r in rows if r["n"] == n and r["method"] == "trained"),
                    key=lambda r: r["steps"])  # fmt: skip
        s = [r["steps"] for r in tr]
        c = colors[n]
        axes[0].plot(s, [r["w1"] for r in tr], "o-", color=c, label=f"trained, n = {n}")
        axes[1].plot(s, [r["copy_fraction"] for r in tr], "o-", color=c, label=f"n = {n}")
        for method, ls in (("idm", "--"), ("train", ":")):
            (ref,) = [r for r in rows if r["n"] == n and r["method"] == method]
            axes[0].axhline(ref["w1"], color=c, ls=ls, lw=1, label=f"{method}, n = {n}")
            if method == "idm":  # (the training set copies 100%: off this scale)
                axes[1].axhline(ref["copy_fraction"], color=c, ls=ls, lw=1)
    axes[0].axhline(rows[0]["w1_floor"], color="0.5", lw=0.8, label="plug-in floor")
    for ax in axes:
        ax.set_xscale("log")
        ax.set_xlabel("training steps")
    axes[0].set_yscale("log")
    axes[0].set_ylabel("W1 (exact plug-in, m = 2048)")
    axes[1].set_ylabel("copy fraction (training set: 1)")
    axes[0].legend(fontsize=6, ncol=2)
    fig.suptitle("S^2 in D = 100: a trained network along its training (seed 0)", fontsize=9)
    fig.savefig(path, dpi=130)


if __name__ == "__main__":
    main()
