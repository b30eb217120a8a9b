"""The point-cloud table of the README: generate on clouds it was not tuned on.

``python -m experiments.studies.generate_clouds [OUT] [--overwrite]``
(default results/generate/clouds.json):
a von Mises-Fisher law on S^2 (kappa = 4) and the flat torus T^2, n = 3000 in D = 64, m = 1000,
sigma = n^(-1/6); copy fraction of IDM and exact W1 of IDM, sigma-CFDM and the ambient KDE at
the same sigma against fresh population samples, beside the floor (a population sample of m).
"""

import tempfile
from pathlib import Path

import jax
import numpy as np

from experiments import generate
from experiments.helpers import preflight, store
from experiments.helpers.schemas import GenerateConfig
from idm import manifolds, w1

N, M, D = 3000, 1000, 64


def main(argv=None) -> None:
    out = preflight.study_output(__doc__, "results/generate/clouds.json", argv)
    jax.config.update("jax_enable_x64", True)
    key, rows = jax.random.key(0), []
    for name in ("vmf_sphere", "torus"):
        kw = {"kappa": 4.0} if name == "vmf_sphere" else {}
        man = manifolds.get(name, d=2, D=D, key=jax.random.fold_in(key, 0), **kw)
        data = np.asarray(man.sample(jax.random.fold_in(key, 1), N))
        truth = np.asarray(man.sample(jax.random.fold_in(key, 2), M))
        row = {"cloud": name, **kw, "n": N, "D": D, "m": M}
        with tempfile.TemporaryDirectory() as tmp:
            for method in ("idm", "cfdm", "kde"):
                cfg = GenerateConfig(
                    data_path="in-memory",
                    out=str(Path(tmp) / "x.npy"),
                    num_samples=M,
                    d="2",
                    method=method,
                    x64=True,
                    progress=False,
                )
                rep = generate.run(cfg, data)
                x = np.load(Path(tmp) / "x.npy")
                row[f"w1_{method}"] = w1.w1(x, truth, method="exact")
                row[f"copy_fraction_{method}"] = rep["copy_fraction"]
                row["sigma"] = rep["sigma"]
        pop = np.asarray(man.sample(jax.random.fold_in(key, 3), M))
        row["w1_floor"] = w1.w1(pop, truth, method="exact")
        rows.append(row)
        print(row)  # noqa: T201
    store.write_json(out, rows)


if __name__ == "__main__":
    main()
