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

The training set's neighbour index (:class:`idm.memorization.TrainingIndex`, in frame
coordinates) is built once per cell, the reference is projected once per seed.

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
from experiments.helpers import evaluation, store, trained_models
from experiments.helpers.rows import NearestRow, Row
from experiments.helpers.schemas import AUTO_METHODS, RunConfig
from idm import bandwidth, manifolds, memorization, qmc, schedule
from idm.samplers import BANDWIDTH_METHODS, METHODS

__all__ = ["NonFiniteResult", "Sweep", "check_finite", "evaluate_cell", "nearest_in_frame"]

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


@dataclasses.dataclass(frozen=True)
class SeedReference:
    """A seed's population reference (in frame coordinates), its kind, and the floor W1."""

    points: np.ndarray
    kind: str
    floor: idm.w1.W1Result


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

    def reference(self, seed: int) -> SeedReference:
        """The seed's reference and floor, computed on first use."""
        if seed not in self._references:
            cfg, man = self.cfg, self.man
            ev, sw = cfg.evaluator.plugin, cfg.sweep
            ref, kind = evaluation.reference(
                man, _key(self.root, _REFERENCE, seed), sw.reference_size, ev.reference
            )
            if ev.method == "semidiscrete":
                kind = "population"
            ref_frame = evaluation.frame_coordinates(man, ref)
            floor = evaluation.w1_in_frame(
                evaluation.frame_coordinates(man, man.sample(_key(self.root, _FLOOR, seed), sw.m)),
                ref_frame,
                ev,
                _key(self.root, _EVAL, seed),
                self.population,
            )
            self._references[seed] = SeedReference(ref_frame, kind, floor)
        return self._references[seed]


def _sample(
    cfg: RunConfig, key, data, method: str, n: int, m: int, model=None, sigma=None
) -> jax.Array:
    """The m samples of a library method (``idm.sample``; ``model``: the trained network).

    ``sigma``: the bandwidth (None: the config's, ``cfg.method.sigma(n, d)``).
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


def _plugin_error(res, floor: float) -> tuple[float, str]:
    """The error bar of a plug-in value: its floor (and Sinkhorn's half-width), and its kind."""
    if res.method == "semidiscrete":
        return float(res.value - res.lower) / 3.0, "semidiscrete"
    half = (res.upper - res.lower) / 2 if math.isfinite(res.upper - res.lower) else 0.0
    return max(float(floor), float(half)), "plugin"


def select_bandwidth(sweep: Sweep, data, n: int, seed: int) -> tuple[float, str, float]:
    """``idm_auto``'s bandwidth constant on the cell's training set: (c, decided_by, seconds).

    ``idm.bandwidth.select_c`` at scale 1 (sigma = c n^(-1/(d+4)), this app's rule for every
    method), keyed by the cell alone (n, seed), as ``experiments.crossover`` chooses its
    c=auto.
    """
    t0 = time.perf_counter()
    key = _key(sweep.root, _AUTO, seed, n)
    sel = bandwidth.select_c(key, np.asarray(data), sweep.cfg.manifold.d, scale=1.0)
    return float(sel.c), str(sel.decided_by), time.perf_counter() - t0


def evaluate_cell(sweep: Sweep, n: int, seed: int) -> tuple[list[Row], list[NearestRow]]:
    """Every method's row of the (n, seed) cell, and the nearest distances for the histogram."""
    cfg, man, root = sweep.cfg, sweep.man, sweep.root
    mf, sw, ev = cfg.manifold, cfg.sweep, cfg.evaluator
    sigma = cfg.method.sigma(n, mf.d)
    ref = sweep.reference(seed)
    data = man.sample(_key(root, _DATA, seed, n), n)
    training = memorization.TrainingIndex(evaluation.frame_coordinates(man, data))
    if ev.of_law:
        data_span = evaluation.span_coordinates(man, data)
        order = qmc.spatial_order(data_span)
    rows, nearest_rows = [], []
    for method in cfg.method.names:
        model, cost = None, {}
        c = cfg.method.c if method in BANDWIDTH_METHODS else math.nan
        m_sigma, lib = sigma, AUTO_METHODS.get(method, method)
        if method in AUTO_METHODS:
            c, c_by, select_s = select_bandwidth(sweep, data, n, seed)
            m_sigma = float(schedule.bandwidth(n, mf.d, c))
            cost = dict(c_by=c_by, select_s=select_s)
        if method == "trained":
            model, _ = trained_models.fit(
                cfg.trained,
                _key(root, _TRAIN, seed, n),
                data,
                label=f"n={n} seed={seed}",
                progress=cfg.progress,
            )
            cost = dict(train_s=model.seconds, train_steps=model.steps, n_params=model.num_params)
        t0 = time.perf_counter()
        key = _key(root, _SAMPLE, seed, n, METHODS.index(lib))
        x = _sample(cfg, key, data, lib, n, sw.m, model, m_sigma).block_until_ready()
        t1 = time.perf_counter()
        eval_key = _key(root, _EVAL, seed, n, 1 + METHODS.index(lib))
        if ev.of_law and lib in SPAN_METHODS:
            draw = _law_draw(cfg, man, lib, data, data_span, order, n, m_sigma)
            law_res = evaluation.law_w1(
                ev,
                eval_key,
                man,
                draw,
                atoms=data_span if lib == "train" else None,
                n=n,
                idm_law=(data_span, m_sigma) if lib == "idm" else None,
            )
            parts = {k: round(v, 10) for k, v in law_res.parts.items()}
            if ev.sobolev:  # which bounds decided (off by default: the rows stay as they were)
                parts.update(lower_by=law_res.lower_by, upper_by=law_res.upper_by)
            measured = dict(
                w1=law_res.value,
                w1_lower=law_res.lower,
                w1_upper=law_res.upper,
                w1_error=law_res.error,
                w1_kind=law_res.kind,
                epsilon=0.0,
                converged=law_res.converged,
                n_iters=0,
                m=law_res.m,
                m_ref=ev.m_exact,
                reference="population",
                evaluation="span",
                w1_tangential=law_res.parts.get("tangential", math.nan),
                w1_parts=store.dumps(parts),
            )
        else:
            res = evaluation.w1_in_frame(
                evaluation.frame_coordinates(man, x),
                ref.points,
                ev.plugin,
                eval_key,
                sweep.population,
            )
            error, kind = _plugin_error(res, ref.floor.value)
            measured = dict(
                w1=res.value,
                w1_lower=res.lower,
                w1_upper=res.upper,
                w1_error=error,
                w1_kind=kind,
                epsilon=res.epsilon,
                converged=bool(res.converged and ref.floor.converged),
                n_iters=res.n_iters,
                m=int(x.shape[0]),
                m_ref=sw.reference_size,
                reference=ref.kind,
                evaluation="ambient",
                w1_tangential=math.nan,
                w1_parts="",
            )
        t2 = time.perf_counter()
        nearest = nearest_in_frame(man, x, training)
        radial = predicted = math.nan
        if mf.is_sphere:
            radial = float(jnp.mean(1.0 - jnp.linalg.norm(x, axis=1)))
            if lib == "idm":
                predicted = mf.d / 2 * m_sigma**2
        copies = training.is_copy(nearest)
        ratio = float(np.median(nearest[:, 0] / np.maximum(nearest[:, 1], np.finfo(float).tiny)))
        manifold_distance = memorization.distance_to_manifold(x, man)
        t3 = time.perf_counter()
        row = Row(
            experiment=cfg.name,
            manifold=mf.name,
            d=mf.d,
            D=man.D,
            n=n,
            seed=seed,
            method=method,
            c=c,
            sigma=m_sigma,
            evaluator=ev.method,
            w1_floor=ref.floor.value,
            copy_fraction=float(np.mean(copies)),
            duplicates=training.duplicates,
            nn_median=float(np.median(nearest[:, 0])),
            manifold_distance=manifold_distance,
            radial_shrinkage=radial,
            predicted_shrinkage=predicted,
            sample_s=t1 - t0,
            eval_s=t2 - t1,
            seconds=t3 - t0,
            **measured,
            **cost,
            nn_ratio_median=ratio,
        )
        check_finite(row)
        rows.append(row)
        if seed == 0 and method in HIST_METHODS and sw.hist_samples:
            nearest_rows += [
                NearestRow(mf.name, mf.d, man.D, method, n, seed, a, b)
                for a, b in nearest[: sw.hist_samples].tolist()
            ]
    return rows, nearest_rows
