"""Bench of the data-driven bandwidth ``c=auto`` against ``c = 1`` on the circle, S^2 and T^2.

For each manifold and seed: ``n`` training points in R^D; :func:`idm.bandwidth.select_c` picks
``c`` from them (held-out exact W1 with the memorization guard bisected; 80/20 split, the
unit-sphere rule ``scale = 1`` so that c means what it means in the rate app); then
IDM (exact sampler, Tweedie inertia) is run on all ``n`` points with ``c = 1`` and with the
selected ``c`` (same key for both: a paired comparison) and scored by exact W1 (:func:`idm.w1.w1`,
``method="exact"``) against a *fresh* population sample of size ``m``. Beside it: the training
set's own W1 (``m`` of its points against the same population sample, the ``c -> 0`` limit) and
the evaluation floor W1(population, population') at the same ``m``.

    python -m experiments.studies.bench_bandwidth [--out results/bandwidth] [--overwrite]
        [--seeds 4] [--n 2000]

Writes ``bandwidth.json`` (config, per-seed records, summary rows), ``bandwidth.md`` (the table)
and ``bandwidth.png`` (the held-out criterion against ``c``, one panel per manifold).

The committed ``results/bandwidth`` was written at commit f4bca76, before the selector's record
was cut to true fields: its per-seed records carry ``log_c_path`` (the evaluated c, sorted, not
a path), ``criterion_path`` (the criterion at those), ``c_start``, and ``converged``,
``sinkhorn_converged`` and ``epsilon`` (constants for this criterion) where a run now writes
``path_c``, ``path_criterion``, ``path_copy_fraction``, ``path_stage`` and ``evaluations``. Its
selected c are those of the current selector, bit for bit (all 12 seeds recomputed).
"""

from __future__ import annotations

import os
import time

import jax
import numpy as np

from experiments.helpers import preflight, store
from idm.rates import mean_se as _mean_se

MANIFOLDS = (("circle", "circle", 1), ("S^2", "sphere", 2), ("T^2", "torus", 2))


def run_one(key, name, d, *, n, D, m, select_kwargs):
    """One manifold and seed: select ``c``, then exact W1 of IDM at ``c = 1`` and ``c = auto``."""
    import idm
    from idm import bandwidth, manifolds
    from idm import w1 as w1lib

    man = manifolds.get(name, d=d, D=D, key=jax.random.fold_in(key, 0))
    data = man.sample(jax.random.fold_in(key, 1), n)
    t0 = time.perf_counter()
    res = bandwidth.select_c(jax.random.fold_in(key, 2), data, d, **select_kwargs)
    t_select = time.perf_counter() - t0
    pop = man.sample(jax.random.fold_in(key, 3), m)
    pop2 = man.sample(jax.random.fold_in(key, 4), m)
    k_idm = jax.random.fold_in(key, 5)
    w1 = {}
    for label, c in (("c1", 1.0), ("auto", res.c)):
        z = idm.sample(k_idm, data, m, method="idm", d=d, c=c, solver="exact")
        w1[label] = w1lib.w1(z, pop, method="exact")
    train = idm.sample(k_idm, data, m, method="train")
    w1["train"] = w1lib.w1(train, pop, method="exact")
    w1["floor"] = w1lib.w1(pop2, pop, method="exact")
    return {
        "c_auto": res.c,
        "criterion_auto": res.criterion,
        "criterion_c1": float(res.grid_criterion[np.argmin(np.abs(res.grid_c - 1.0))]),
        "decided_by": res.decided_by,
        "c_guard": res.c_guard,
        "n_train": res.n_train,
        "n_val": res.n_val,
        "grid_c": res.grid_c.tolist(),
        "grid_criterion": res.grid_criterion.tolist(),
        "evaluations": res.evaluations,
        "path_c": res.path_c.tolist(),
        "path_criterion": res.path_criterion.tolist(),
        "path_copy_fraction": res.path_copy_fraction.tolist(),
        "path_stage": list(res.path_stage),
        "w1_c1": w1["c1"],
        "w1_auto": w1["auto"],
        "w1_train": w1["train"],
        "w1_floor": w1["floor"],
        "select_seconds": t_select,
    }


def summarise(records):
    """One row per manifold: means and standard errors over seeds, paired differences."""
    rows = []
    for label, recs in records.items():
        row = {"manifold": label, "seeds": len(recs)}
        for k in ("c_auto", "w1_c1", "w1_auto", "w1_train", "w1_floor", "select_seconds"):
            row[k], row[k + "_se"] = _mean_se([r[k] for r in recs])
        diff = [r["w1_auto"] - r["w1_c1"] for r in recs]
        row["w1_diff"], row["w1_diff_se"] = _mean_se(diff)
        row["auto_wins"] = int(sum(x <= 0 for x in diff))
        row["auto_not_worse_mean"] = bool(row["w1_auto"] <= row["w1_c1"])
        row["guard_decided"] = int(sum(r["decided_by"] == "guard" for r in recs))
        rows.append(row)
    return rows


def markdown(rows, cfg):
    how = (
        "held-out exact W1 of IDM samples from the 80% training part against the 20% "
        f"validation part on the grid, the guard's boundary (the sampler on all n copies at "
        f"most 0.6%) bisected, then {cfg['steps']} golden-section steps"
    )
    head = (
        f"Held-out exact W1 of IDM (exact sampler, Tweedie inertia), n = {cfg['n']}, "
        f"D = {cfg['D']}, m = {cfg['m']} samples against a fresh population sample of m; "
        f"mean +- standard error over {cfg['seeds']} seeds. `c=auto`: {how}; 'guard': the "
        "seeds where the guard, not the criterion, decided. diff = auto - (c = 1), "
        "paired (same IDM key and population sample).\n\n"
    )
    cols = (
        "| manifold | c auto | W1 c = 1 | W1 c = auto | diff | auto <= c=1 (seeds) "
        "| guard | W1 train set | W1 floor | select s |\n"
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n"
    )

    def f(r, k, p=4):
        return f"{r[k]:.{p}f} +- {r[k + '_se']:.{p}f}"

    lines = [
        f"| {r['manifold']} | {f(r, 'c_auto', 3)} | {f(r, 'w1_c1')} | {f(r, 'w1_auto')} "
        f"| {f(r, 'w1_diff')} | {r['auto_wins']}/{r['seeds']} "
        f"| {r['guard_decided']}/{r['seeds']} | {f(r, 'w1_train')} "
        f"| {f(r, 'w1_floor')} | {r['select_seconds']:.0f} |"
        for r in rows
    ]
    return head + cols + "\n".join(lines) + "\n"


def plot(records, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(records), figsize=(4.2 * len(records), 3.6))
    for ax, (label, recs) in zip(np.atleast_1d(axes), records.items(), strict=True):
        for i, r in enumerate(recs):
            (line,) = ax.plot(r["grid_c"], r["grid_criterion"], "o-", ms=3, lw=1, label=f"seed {i}")
            ax.plot(r["c_auto"], r["criterion_auto"], "*", ms=11, color=line.get_color())
        ax.axvline(1.0, color="k", ls=":", lw=1)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("c  (sigma = c n_train^(-1/(d+4)))")
        ax.set_title(label)
    np.atleast_1d(axes)[0].set_ylabel("held-out criterion")
    np.atleast_1d(axes)[0].legend(fontsize=7)
    fig.suptitle("held-out criterion against c (star: selected c; dotted: c = 1)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)


def main(argv=None):
    p = preflight.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="results/bandwidth")
    p.add_argument("--overwrite", action="store_true", help="replace an existing result")
    p.add_argument("--seeds", type=int, default=4)
    p.add_argument("--n", type=int, default=2000)
    p.add_argument("--D", type=int, default=100)
    p.add_argument("--m", type=int, default=1000)
    p.add_argument("--num-samples", type=int, default=512)
    p.add_argument("--steps", type=int, default=6, help="golden-section steps")
    p.add_argument("--grid", type=float, nargs="*", default=None)
    p.add_argument("--manifolds", nargs="*", default=[m[0] for m in MANIFOLDS])
    p.add_argument("--float32", action="store_true", help="run without x64 (default: float64)")
    args = p.parse_args(argv)
    for name in ("bandwidth.json", "bandwidth.md", "bandwidth.png"):  # before any work
        preflight.check_flag_output(os.path.join(args.out, name), overwrite=args.overwrite)
    if not args.float32:
        jax.config.update("jax_enable_x64", True)
    grid = tuple(args.grid) if args.grid else tuple(np.geomspace(1 / 16, 4.0, 9).tolist())
    cfg = {
        "n": args.n,
        "D": args.D,
        "m": args.m,
        "seeds": args.seeds,
        "num_samples": args.num_samples,
        "criterion": "w1",
        "steps": args.steps,
        "grid": list(grid),
        "val_fraction": 0.2,
        "dtype": "float32" if args.float32 else "float64",
        "jax": jax.__version__,
        "backend": jax.default_backend(),
    }
    records = {}
    t_all = time.perf_counter()
    for mi, (label, name, d) in enumerate(MANIFOLDS):
        if label not in args.manifolds:
            continue
        recs = []
        for s in range(args.seeds):
            key = jax.random.fold_in(jax.random.fold_in(jax.random.key(20261), mi), s)
            kw = dict(num_samples=args.num_samples, grid=grid, scale=1.0, steps=cfg["steps"])
            r = run_one(key, name, d, n=args.n, D=args.D, m=args.m, select_kwargs=kw)
            print(
                f"{label} seed {s}: c_auto {r['c_auto']:.3f} W1 c=1 {r['w1_c1']:.4f} "
                f"auto {r['w1_auto']:.4f} train {r['w1_train']:.4f} floor {r['w1_floor']:.4f} "
                f"({r['select_seconds']:.0f} s, {r['evaluations']} evaluations, "
                f"decided by the {r['decided_by']})",
                flush=True,
            )
            recs.append(r)
        records[label] = recs
    cfg["total_seconds"] = time.perf_counter() - t_all
    rows = summarise(records)
    store.write_json(
        os.path.join(args.out, "bandwidth.json"),
        {"config": cfg, "rows": rows, "records": records},
        indent=1,
    )
    with open(os.path.join(args.out, "bandwidth.md"), "w") as fh:
        fh.write(markdown(rows, cfg))
    plot(records, os.path.join(args.out, "bandwidth.png"))
    print(markdown(rows, cfg))
    print(f"total {cfg['total_seconds']:.0f} s")


if __name__ == "__main__":
    main()
