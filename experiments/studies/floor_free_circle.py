"""How far a CPU gets towards a floor-free W1 of IDM's law on the circle (issue 4's evidence).

``python -m experiments.studies.floor_free_circle [OUT] [--overwrite]``
(default results/floor_free/circle.json).

The default rate run measures W1 between m = 2048 IDM samples and a population grid, whose
floor (the samples' own W1 to IDM's law, ~m^(-1/2) on a curve) is reached by n ~ 10^3. Here the
IDM law itself is the continuous side of a semidiscrete OT problem (fresh IDM samples in every
ascent step, ``idm.sample`` with the exact solver) against an equally spaced grid of the circle
(its own W1 to the uniform law is pi/(2 m_grid) ~ 1.5e-3 at 1024 points), solved coarse to fine
(64, 256, 1024 grid points, each level warm-started from the previous potential, interpolated
periodically in angle). Each result is a bracket: ``value`` (a lower bound on W1 for any
potential, in expectation) and ``upper`` (the Laguerre plan's cost plus its marginal repair,
an upward-biased upper bound), beside the floor-free lower bound E dist(x, circle) and the
plug-in exact W1 at m = 2048 (the default run's estimator). The circle in R^2 stands for any
D: the exact sampler's law is the same in the span of the data whatever D is (the noise
orthogonal to the span shifts every logit equally).
"""

import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import idm
from experiments.helpers import preflight, store
from idm import manifolds, w1
from idm.w1 import semidiscrete

NS = (512, 1024, 2048, 4096, 8192)
SEEDS = 4
LEVELS = (64, 256, 1024)
ITERATIONS = 2000
M_PLUGIN = 2048


def grid(m: int, offset: float = 0.37) -> tuple[np.ndarray, np.ndarray]:
    """Equally spaced points of the unit circle (m of them) and their angles."""
    a = 2 * np.pi * (np.arange(m) + offset) / m
    return np.stack([np.cos(a), np.sin(a)], axis=1), a


def periodic_interp(a_new, a_old, g_old):
    """Linear interpolation of a potential on the circle, by angle."""
    a = np.concatenate([a_old - 2 * np.pi, a_old, a_old + 2 * np.pi])
    return np.interp(a_new, a, np.tile(np.asarray(g_old), 3))


def one(n: int, key) -> dict:
    """The bracket, lower bound and plug-in for one training set of size n."""
    angles = jax.random.uniform(jax.random.fold_in(key, 0), (n,)) * 2 * jnp.pi
    data = jnp.stack([jnp.cos(angles), jnp.sin(angles)], axis=1)
    sigma = float(idm.schedule.bandwidth(n, 1, 1.0))

    def sampler(k, num):
        return idm.sample(k, data, num, sigma=sigma, solver="exact", check_finite=False)

    row = {"n": n, "sigma": sigma, "levels": []}
    t0 = time.perf_counter()
    g, a_prev = None, None
    for i, m in enumerate(LEVELS):
        q, a = grid(m)
        warm = {} if g is None else {
            "g_init": periodic_interp(a, a_prev, g), "epsilon0": 0.0, "learning_rate": 0.03
        }  # fmt: skip
        g = semidiscrete.dual_potential(
            jax.random.fold_in(key, 10 + i), jnp.asarray(q), sampler, num_iterations=ITERATIONS,
            **warm,
        ).g  # fmt: skip
        res = semidiscrete.evaluate_potential(
            jax.random.fold_in(key, 20 + i), jnp.asarray(q), sampler, g, n_eval=2**18
        )
        row["levels"].append(
            {
                "grid": m,
                "grid_w1_to_uniform": float(np.pi / (2 * m)),  # arc; the chord is smaller
                "value": float(res.value),
                "value_se": float(res.diagnostics["value_se"]),
                "upper": float(res.upper),
                "seconds": time.perf_counter() - t0,
            }
        )
        a_prev = a
    x = np.asarray(sampler(jax.random.fold_in(key, 30), 2**18))
    row["distance_to_manifold"] = float(np.mean(np.abs(1 - np.linalg.norm(x, axis=1))))
    plug = np.asarray(sampler(jax.random.fold_in(key, 31), M_PLUGIN))
    row["plugin_exact_w1_m2048"] = w1.w1(plug, grid(M_PLUGIN)[0], method="exact")
    pop = np.asarray(manifolds.get("circle", d=1, D=2, key=key).sample(
        jax.random.fold_in(key, 32), M_PLUGIN))  # fmt: skip
    row["plugin_floor_m2048"] = w1.w1(pop, grid(M_PLUGIN)[0], method="exact")
    return row


def main(argv=None) -> None:
    out = preflight.study_output(__doc__, "results/floor_free/circle.json", argv)
    jax.config.update("jax_enable_x64", True)
    rows = []
    for n in NS:
        for seed in range(SEEDS):
            rows.append({"seed": seed, **one(n, jax.random.fold_in(jax.random.key(n), seed))})
            last = rows[-1]["levels"][-1]
            print(  # noqa: T201
                f"n={n} seed={seed}: W1 in [{last['value']:.4f}, {last['upper']:.4f}] "
                f"(distance to circle {rows[-1]['distance_to_manifold']:.4f}, plug-in "
                f"{rows[-1]['plugin_exact_w1_m2048']:.4f}, floor "
                f"{rows[-1]['plugin_floor_m2048']:.4f}, {last['seconds']:.0f} s)",
                flush=True,
            )
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"levels": LEVELS, "iterations_per_level": ITERATIONS, "jax": jax.__version__}
    store.write_json(path, {"meta": meta, "means": means(rows), "rows": rows})


def means(rows: list[dict]) -> list[dict]:
    """Per-n seed means and the local slopes of the bracket's two ends.

    Means of the bracket ends, the lower bound and the plug-in; slopes per doubling of n.
    """
    out = []
    for n in sorted({r["n"] for r in rows}):
        rs = [r for r in rows if r["n"] == n]
        out.append(
            {
                "n": n,
                "seeds": len(rs),
                "value": float(np.mean([r["levels"][-1]["value"] for r in rs])),
                "upper": float(np.mean([r["levels"][-1]["upper"] for r in rs])),
                "value_sd": float(np.std([r["levels"][-1]["value"] for r in rs], ddof=1)),
                "distance_to_manifold": float(np.mean([r["distance_to_manifold"] for r in rs])),
                "plugin_exact_w1_m2048": float(np.mean([r["plugin_exact_w1_m2048"] for r in rs])),
                "plugin_floor_m2048": float(np.mean([r["plugin_floor_m2048"] for r in rs])),
            }
        )
    for a, b in zip(out, out[1:], strict=False):
        k = np.log(b["n"] / a["n"])
        b["slope_value"] = float(np.log(b["value"] / a["value"]) / k)
        b["slope_upper"] = float(np.log(b["upper"] / a["upper"]) / k)
    return out


if __name__ == "__main__":
    main()
