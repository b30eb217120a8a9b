"""One (n, seed) cell of a rate run: draw a training set, sample every method, measure.

For every method of the config the cell draws m samples (``idm.sample``) and measures

* ``w1``: W1 between the samples and the seed's population reference by the configured
  evaluator (:mod:`experiments.helpers.evaluation`: exact, Sinkhorn with its certified bracket,
  or semidiscrete against the law), with ``converged`` (this row's solve and its floor's);
* ``w1_floor``: the same evaluator between an iid population sample of size m and that
  reference: the value a perfect sampler would get, reported beside every W1;
* ``copy_fraction`` (``idm.memorization.is_copy``, against the distinct training
  points; ``duplicates`` counts the training rows merged as duplicates), ``nn_median``
  (median distance to the nearest training point), ``manifold_distance`` (mean distance to
  the manifold) and, on spheres, ``radial_shrinkage`` E[1 - |x|] (1-Lipschitz, so a lower
  bound on W1) beside ``predicted_shrinkage`` d/2 sigma^2 (idm rows), the leading term;
* ``sample_s``, ``eval_s``, ``seconds``: wall time of sampling (the first seed of each n
  includes compilation), of W1, and of the whole row.

``idm_auto`` is IDM at the bandwidth constant ``idm.bandwidth.select_c`` chooses on the cell's
training set (held-out exact W1 with the memorization guard, at scale 1: sigma =
c n^(-1/(d+4)) as for every method here, as ``experiments.crossover`` does), recorded in
``c``, ``sigma``, ``c_by`` (the guard or the criterion) and ``select_s``; it is then sampled
and evaluated exactly as ``idm``, with idm's sample and evaluation keys (common random
numbers: the pair differs only in c).

One path per row: :class:`Cell` (the training set, its neighbour index
:class:`idm.memorization.TrainingIndex` in frame coordinates, the seed's reference, each built
once) -> :func:`method_row`: draw -> :func:`experiments.helpers.evaluation.measure` (the W1
columns; a law method's draws are handed over as an ``evaluation.Law``) -> the sample metrics
-> :class:`~experiments.helpers.rows.Row`. A new method is a branch of :func:`_sample` (and of
``SPAN_METHODS`` if its outputs stay in the data's span).

PRNG: every draw is ``fold_in`` of the root key ``cfg.seed`` by (stream, seed, n, method), so
adding an n, a seed or a method leaves every other row unchanged. The reference and the floor
sample depend on the seed only, so all n of one seed share them (their noise is common across
n, and the bootstrap over seeds in ``idm.rates`` resamples it as a unit).
"""

from __future__ import annotations

import dataclasses
import math
import time

import jax
import jax.numpy as jnp
import numpy as np

import idm
from experiments.helpers import evaluation, trained_models
from experiments.helpers.rows import NearestRow, Row
from experiments.helpers.schemas.rate import AUTO_METHODS, RunConfig
from idm import bandwidth, manifolds, memorization, qmc, schedule
from idm.samplers import BANDWIDTH_METHODS, METHODS

__all__ = [
    "Cell",
    "NonFiniteResult",
    "Sweep",
    "check_finite",
    "evaluate_cell",
    "method_row",
    "nearest_in_frame",
]

# Streams of the root key (never reorder: rows would change).
_FRAME, _DATA, _SAMPLE, _REFERENCE, _FLOOR, _EVAL, _TRAIN, _AUTO = range(8)
# Nearest distances kept per method for the memorization histogram (seed 0).
HIST_METHODS = ("dm", "idm", "cfdm")
# Methods whose outputs are convex combinations of training points: they lie in the span, where
# the law evaluators measure them (the others' noise leaves the span).
SPAN_METHODS = ("idm", "dm", "train", "cfdm")


class NonFiniteResult(RuntimeError):
    """A W1 or a metric came out NaN or infinite: nothing is written for that cell."""


def _key(root: jax.Array, *path: int) -> jax.Array:
    for p in path:
        root = jax.random.fold_in(root, p)
    return root


@dataclasses.dataclass
class Sweep:
    """What the cells of one run share: the config, the manifold, keys, per-seed references.

    Attributes:
        cfg: the typed config.
        man: the manifold, placed by the run's frame key.
        root: the root key ``jax.random.key(cfg.seed)``.
        population: the population sampler in frame coordinates (semidiscrete only).
    """

    cfg: RunConfig
    man: manifolds.Manifold
    root: jax.Array
    population: object = None
    _references: dict = dataclasses.field(default_factory=dict)

    @classmethod
    def create(cls, cfg: RunConfig) -> Sweep:
        """The manifold and keys of ``cfg``."""
        mf = cfg.manifold
        root = jax.random.key(cfg.seed)
        man = manifolds.get(
            mf.name,
            d=mf.d,
            D=mf.ambient_dim,
            key=_key(root, _FRAME),
            **({"kappa": mf.kappa} if mf.kappa is not None else {}),
        )
        population = (
            evaluation.frame_sampler(man) if cfg.evaluator.method == "semidiscrete" else None
        )
        return cls(cfg, man, root, population)

    def reference(self, seed: int) -> evaluation.SeedReference:
        """The seed's reference and floor, computed on first use."""
        if seed not in self._references:
            keys = [_key(self.root, stream, seed) for stream in (_REFERENCE, _FLOOR, _EVAL)]
            sw = self.cfg.sweep
            self._references[seed] = evaluation.seed_reference(
                self.man, self.cfg.evaluator.plugin, keys, sw.reference_size, sw.m, self.population
            )
        return self._references[seed]


def _sample(
    cfg: RunConfig, key, data, method: str, n: int, m: int, model=None, sigma=None
) -> jax.Array:
    """The m samples of a library method.

    ``model``: the trained network; ``sigma``: the bandwidth (None: the config's
    ``cfg.method.sigma(n, d)``).
    """
    mc = cfg.method
    sigma = mc.sigma(n, cfg.manifold.d) if sigma is None else sigma
    if method == "trained":
        tc = cfg.trained
        x = idm.sample(
            key,
            jnp.asarray(data, getattr(jnp, tc.dtype)),
            m,
            method="trained",
            model=model,
            solver=tc.solver,
            steps=tc.sample_steps,
            T=tc.T,
        )
        return x.astype(data.dtype)
    return idm.sample(
        key,
        data,
        min(n, m) if method == "train" else m,
        method=method,
        d=cfg.manifold.d,
        sigma=sigma,
        solver=mc.solver,
        steps=mc.steps,
        T=mc.T,
        inertia=mc.inertia,
        t_end=mc.t_end,
        block_size=mc.block_size,
        precision=mc.precision,
    )


def nearest_in_frame(man, x, training: memorization.TrainingIndex) -> np.ndarray:
    """(m, 2) exact distances to the nearest training point and the nearest distinct one.

    In frame coordinates: the training points lie in the span of the frame, so the distances
    are the same as in R^D; ``training`` holds the training set's frame coordinates (a k-d
    tree there).
    """
    return training.nearest(evaluation.frame_coordinates(man, x))


def check_finite(row: Row) -> None:
    """Raises :class:`NonFiniteResult` when a result of the row is NaN or infinite."""
    bad = [
        k
        for k in ("w1", "w1_floor", "nn_median", "manifold_distance")
        if not np.isfinite(getattr(row, k))
    ]
    if bad:
        raise NonFiniteResult(
            f"non-finite {', '.join(bad)} at method={row.method} n={row.n} seed={row.seed}"
            f" ({row.manifold}, d={row.d}, D={row.D}); no row written"
        )


def _law_draw(cfg: RunConfig, man, method: str, data, data_span, order, n: int, sigma: float):
    """``(key, k) -> (k, embedding_dim)`` draws of a span method's law, in span coordinates.

    Randomized-QMC draws (``idm.qmc``) for its methods; cfdm's iid draws through its own
    sampler, projected onto the span.
    """
    mc = cfg.method
    if method not in qmc.METHODS:

        def draw_iid(key, k):
            return evaluation.span_coordinates(
                man, _sample(cfg, key, data, method, n, k, sigma=sigma)
            )

        return draw_iid

    def draw(key, k):
        return qmc.sample(
            key,
            data_span,
            k,
            method=method,
            sigma=sigma,
            t_end=mc.t_end,
            order=order,
            block_size=mc.block_size,
            precision=mc.precision,
        )

    return draw


@dataclasses.dataclass(frozen=True)
class Cell:
    """What every method of an (n, seed) cell shares: its training set and the seed's reference.

    Attributes:
        sweep: the run's :class:`Sweep`.
        n, seed: the cell.
        sigma: the bandwidth at n.
        data: the training set (n, D).
        training: its neighbour index, in frame coordinates.
        reference: the seed's reference and floor.
        data_span, order: the training set in span coordinates and its QMC order (law
            evaluators only).
    """

    sweep: Sweep
    n: int
    seed: int
    sigma: float
    data: jax.Array
    training: memorization.TrainingIndex
    reference: evaluation.SeedReference
    data_span: np.ndarray | None = None
    order: np.ndarray | None = None

    @classmethod
    def create(cls, sweep: Sweep, n: int, seed: int) -> Cell:
        """The cell's training set (stream ``_DATA``) and what is derived from it."""
        man = sweep.man
        data = man.sample(_key(sweep.root, _DATA, seed, n), n)
        training = memorization.TrainingIndex(evaluation.frame_coordinates(man, data))
        span = order = None
        if sweep.cfg.evaluator.of_law:
            span = evaluation.span_coordinates(man, data)
            order = qmc.spatial_order(span)
        sigma = sweep.cfg.method.sigma(n, sweep.cfg.manifold.d)
        return cls(sweep, n, seed, sigma, data, training, sweep.reference(seed), span, order)


def _law(cell: Cell, method: str, sigma: float) -> evaluation.Law | None:
    """The method's law for the law evaluators (None: its samples are measured instead)."""
    cfg = cell.sweep.cfg
    if not (cfg.evaluator.of_law and method in SPAN_METHODS):
        return None
    man, n = cell.sweep.man, cell.n
    draw = _law_draw(cfg, man, method, cell.data, cell.data_span, cell.order, n, sigma)
    return evaluation.Law(
        draw,
        n,
        atoms=cell.data_span if method == "train" else None,
        idm_law=(cell.data_span, sigma) if method == "idm" else None,
    )


def select_bandwidth(cell: Cell) -> tuple[float, str, float]:
    """``idm_auto``'s bandwidth constant on the cell's training set: (c, decided_by, seconds).

    ``idm.bandwidth.select_c`` at scale 1 (sigma = c n^(-1/(d+4)), this app's rule for every
    method), keyed by the cell alone (n, seed), as ``experiments.crossover`` chooses its
    c=auto.
    """
    t0 = time.perf_counter()
    key = _key(cell.sweep.root, _AUTO, cell.seed, cell.n)
    sel = bandwidth.select_c(key, np.asarray(cell.data), cell.sweep.cfg.manifold.d, scale=1.0)
    return float(sel.c), str(sel.decided_by), time.perf_counter() - t0


def _sample_metrics(cell: Cell, method: str, x, sigma: float) -> tuple[dict, np.ndarray]:
    """The memorization and geometry columns of the samples x, and their nearest distances."""
    man, sphere = cell.sweep.man, cell.sweep.cfg.manifold.is_sphere
    nearest = nearest_in_frame(man, x, cell.training)
    ratio = float(np.median(nearest[:, 0] / np.maximum(nearest[:, 1], np.finfo(float).tiny)))
    d = cell.sweep.cfg.manifold.d
    metrics = dict(
        copy_fraction=float(np.mean(cell.training.is_copy(nearest))),
        duplicates=cell.training.duplicates,
        nn_median=float(np.median(nearest[:, 0])),
        manifold_distance=memorization.distance_to_manifold(x, man),
        radial_shrinkage=float(jnp.mean(1.0 - jnp.linalg.norm(x, axis=1))) if sphere else math.nan,
        predicted_shrinkage=d / 2 * sigma**2 if sphere and method == "idm" else math.nan,
        nn_ratio_median=ratio,
    )
    return metrics, nearest


def method_row(cell: Cell, method: str) -> tuple[Row, np.ndarray]:
    """The method's row of the cell (draw -> W1 -> metrics), and its nearest distances."""
    sweep, n, seed = cell.sweep, cell.n, cell.seed
    cfg, root, mf = sweep.cfg, sweep.root, sweep.cfg.manifold
    model, cost, lib = None, {}, AUTO_METHODS.get(method, method)
    c = cfg.method.c if lib in BANDWIDTH_METHODS else math.nan
    sigma = cell.sigma
    if method in AUTO_METHODS:
        c, c_by, select_s = select_bandwidth(cell)
        sigma = float(schedule.bandwidth(n, mf.d, c))
        cost = dict(c_by=c_by, select_s=select_s)
    if method == "trained":
        model, _ = trained_models.fit(
            cfg.trained,
            _key(root, _TRAIN, seed, n),
            cell.data,
            label=f"n={n} seed={seed}",
            progress=cfg.progress,
        )
        cost = dict(train_s=model.seconds, train_steps=model.steps, n_params=model.num_params)
    t0 = time.perf_counter()
    key = _key(root, _SAMPLE, seed, n, METHODS.index(lib))
    x = _sample(cfg, key, cell.data, lib, n, cfg.sweep.m, model, sigma).block_until_ready()
    t1 = time.perf_counter()
    measured = evaluation.measure(
        cfg.evaluator,
        sweep.man,
        _key(root, _EVAL, seed, n, 1 + METHODS.index(lib)),
        x,
        cell.reference,
        law=_law(cell, lib, sigma),
        population=sweep.population,
    )
    t2 = time.perf_counter()
    metrics, nearest = _sample_metrics(cell, lib, x, sigma)
    row = Row(
        experiment=cfg.name,
        manifold=mf.name,
        d=mf.d,
        D=sweep.man.D,
        n=n,
        seed=seed,
        method=method,
        c=c,
        sigma=sigma,
        evaluator=cfg.evaluator.method,
        w1_floor=cell.reference.floor.value,
        sample_s=t1 - t0,
        eval_s=t2 - t1,
        seconds=time.perf_counter() - t0,
        **measured,
        **metrics,
        **cost,
    )
    check_finite(row)
    return row, nearest


def evaluate_cell(sweep: Sweep, n: int, seed: int) -> tuple[list[Row], list[NearestRow]]:
    """Every method's row of the (n, seed) cell, and the nearest distances for the histogram."""
    cell = Cell.create(sweep, n, seed)
    mf, hist = sweep.cfg.manifold, sweep.cfg.sweep.hist_samples
    rows, nearest_rows = [], []
    for method in sweep.cfg.method.names:
        row, nearest = method_row(cell, method)
        rows.append(row)
        if seed == 0 and method in HIST_METHODS and hist:
            nearest_rows += [
                NearestRow(mf.name, mf.d, sweep.man.D, method, n, seed, a, b)
                for a, b in nearest[:hist].tolist()
            ]
    return rows, nearest_rows
