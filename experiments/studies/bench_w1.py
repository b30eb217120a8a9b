"""The evaluator benchmark alone: W1 by Sinkhorn against exact OT (and POT), one JSON file.

    python -m experiments.studies.bench_w1 OUT.json [--sizes 1000 4000] [--clouds circle_idm ...]
    python -m experiments.studies.bench_w1 OUT.json --memory 40000   # online path, peak RSS
    python -m experiments.studies.bench_w1 OUT.json --sizes 10000 --D 3 --large 100000   # GPU

The rows come from :mod:`experiments.helpers.w1bench`.
"""

import resource

import jax

from experiments.helpers import preflight, store
from experiments.helpers.w1bench import bench_w1, large_row, memory_row


def main(argv=None) -> None:
    parser = preflight.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="path of the JSON file to write")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing file")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 4000])
    parser.add_argument("--clouds", nargs="+", default=["circle_idm", "sphere_idm"])
    parser.add_argument("--D", type=int, default=100)
    parser.add_argument("--warm-up-below", type=int, default=5000)
    parser.add_argument("--memory", type=int, default=0, help="also measure the online path")
    parser.add_argument("--large", type=int, nargs="*", default=[], help="sizes past exact OT")
    parser.add_argument("--large-max-iterations", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    preflight.check_flag_output(args.out, overwrite=args.overwrite)
    jax.config.update("jax_enable_x64", True)
    key = jax.random.key(args.seed)
    rows = bench_w1(args.sizes, key, clouds=args.clouds, D=args.D, warm_up_below=args.warm_up_below)
    for m in args.large:
        rows.append(large_row(m, key, max_iterations=args.large_max_iterations))
        print(store.dumps(rows[-1]), flush=True)
    if args.memory:
        rows.append(memory_row(args.memory))
        print(store.dumps(rows[-1]), flush=True)
    meta = dict(
        backend=jax.default_backend(),
        jax=jax.__version__,
        peak_rss_bytes=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    )
    store.write_json(args.out, dict(meta=meta, rows=rows))


if __name__ == "__main__":
    main()
