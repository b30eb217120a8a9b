"""Intrinsic-dimension estimates on the project's manifolds (the README's figures).

``python -m experiments.studies.bench_intrinsic_dim [OUT] [--overwrite]``
(default results/intrinsic_dim/estimates.json):
S^1..S^8 and T^2..T^4 at n = 5000 (D = 20; S^8 and T^3 in D = 1000), the default estimator
(MLE per neighbour rank extrapolated to zero scale) beside the plain MLE at k = 20 and TwoNN.
"""

import jax

from experiments.helpers import preflight, store
from idm import intrinsic_dim, manifolds

CASES = [("sphere", d, 20) for d in range(1, 8)] + [("sphere", 8, 1000)]
CASES += [("torus", 2, 20), ("torus", 3, 1000), ("torus", 4, 20)]


def main(argv=None) -> None:
    out = preflight.study_output(__doc__, "results/intrinsic_dim/estimates.json", argv)
    jax.config.update("jax_enable_x64", True)
    rows = []
    for i, (name, d, D) in enumerate(CASES):
        man = manifolds.get(name, d=d, D=D, key=jax.random.key(i))
        x = man.sample(jax.random.key(100 + i), 5000)
        row = {"manifold": name, "d": d, "D": D, "n": 5000}
        for method, k in (("extrapolated", None), ("mle", 20), ("twonn", None)):
            est = intrinsic_dim.estimate(x, method=method, k=k)
            row[method] = float(est.value)
        row["d_hat"] = int(intrinsic_dim.estimate(x).d)
        rows.append(row)
        print(row)  # noqa: T201
    store.write_json(out, rows)


if __name__ == "__main__":
    main()
