"""The two inertia steps against D: mean distance to the manifold of IDM samples.

    python -m experiments.studies.inertia [OUT_DIR] [--overwrite]   (default results/inertia)

The literal step e^s (x + s score) matches the Tweedie posterior mean only to first order and
leaves normal noise of order s sqrt(s D); the Tweedie step (x + v_s score) / alpha_s does not
depend on D. Circle (d = 1), n = 2000, exact sampler at s = sigma^2, 2000 samples, float64.
Writes inertia.json and prints a markdown table.
"""

import jax

import idm
import idm.manifolds
from experiments.helpers import preflight, store


def main(argv=None, n=2000, m=2000, d=1, Ds=(3, 30, 300, 1000)):
    path = preflight.study_output(__doc__, "results/inertia", argv, file_name="inertia.json")
    jax.config.update("jax_enable_x64", True)
    key = jax.random.key(0)
    rows = []
    for D in Ds:
        M = idm.manifolds.get("sphere", d=d, D=D, key=jax.random.fold_in(key, D))
        data = M.sample(jax.random.fold_in(key, 1), n)
        row = dict(manifold="circle", d=d, D=D, n=n, m=m, sigma2=idm.schedule.bandwidth(n, d) ** 2)
        for inertia in ("tweedie", "paper"):
            x = idm.sample(
                jax.random.fold_in(key, 2), data, m, d=d, solver="exact", inertia=inertia
            )
            row[inertia] = float(M.distance(x).mean())
        rows.append(row)
    store.write_json(path, rows)
    print("| D | sigma^2 | Tweedie step | paper step |\n|---|---|---|---|")
    for r in rows:
        print(f"| {r['D']} | {r['sigma2']:.4f} | {r['tweedie']:.4f} | {r['paper']:.4f} |")


if __name__ == "__main__":
    main()
