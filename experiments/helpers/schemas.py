"""Typed, immutable schemas of the experiment apps (plain dataclasses, no Hydra).

``experiments/rate.py`` registers :class:`RunConfig` with Hydra's ConfigStore as the schema of
``conf/config.yaml`` (``experiments/generate.py`` likewise :class:`GenerateConfig`); every YAML
value is merged into it, so an unknown key or a value of the wrong type fails at start-up with
the key named, and :meth:`__post_init__` checks the values
(``OmegaConf.to_object`` builds these classes, so the checks run before anything else).
Sequences are stored as tuples; derived quantities (sigma(n), the ambient dimension) are
computed by methods, never written back (configs are never mutated).
"""

from __future__ import annotations

import dataclasses
import os.path

from idm import manifolds, schedule
from idm import trained as trained_lib
from idm.samplers import BANDWIDTH_METHODS, INERTIAS, METHODS, SOLVERS
from idm.score import PRECISIONS

__all__ = [
    "ManifoldConfig",
    "MethodConfig",
    "TrainedConfig",
    "EvaluatorConfig",
    "SweepConfig",
    "FitConfig",
    "RunConfig",
    "GenerateConfig",
    "TradeoffConfig",
    "MANIFOLDS",
    "METHODS",
    "RATE_METHODS",
    "AUTO_METHODS",
    "BANDWIDTH_METHODS",
    "SOLVERS",
    "INERTIAS",
    "EVALUATORS",
    "LAW_EVALUATORS",
    "REFERENCES",
    "PRECISIONS",
]

# The manifolds, methods, solvers, inertia steps and precisions are the library's own lists
# (idm.manifolds, idm.samplers, idm.score), imported here: one definition each.
MANIFOLDS = manifolds.NAMES
# The rate app's own methods beside the library's: IDM at a bandwidth constant chosen per
# (n, seed) cell on that cell's training set (``idm.bandwidth.select_c``, c=auto), sampled and
# evaluated exactly as ``idm`` (the library method each maps to).
AUTO_METHODS = {"idm_auto": "idm"}
RATE_METHODS = (*METHODS, *AUTO_METHODS)
EVALUATORS = ("bracket", "extrapolated", "exact", "sinkhorn", "semidiscrete")
# The evaluators of a method's law (idm.w1.law); the others compare m samples with a reference.
LAW_EVALUATORS = ("bracket", "extrapolated")
EXACT_MODES = ("auto", "always", "never")
REFERENCES = ("grid", "iid")
DATA_SUFFIXES = (".npy", ".npz", ".csv")


def _tuple(obj, name: str) -> None:
    """Stores field ``name`` of a frozen dataclass as a tuple (OmegaConf hands back lists)."""
    object.__setattr__(obj, name, tuple(getattr(obj, name)))


def _choice(value, allowed, key: str) -> None:
    if value not in allowed:
        raise ValueError(f"{key} must be one of {list(allowed)}, got {value!r}")


@dataclasses.dataclass(frozen=True)
class ManifoldConfig:
    """The data manifold and its placement (``idm.manifolds.get``).

    Attributes:
        name: one of ``idm.manifolds.NAMES``: "sphere", "circle", "vmf_sphere" or "torus".
        d: intrinsic dimension (1 for the circle).
        D: ambient dimension; None means the smallest that embeds it (d + 1 for spheres,
            2d for the torus), which is how a sweep writes "D = d + 1".
        kappa: von Mises-Fisher concentration (vmf_sphere only; None keeps the default).
    """

    name: str = "circle"
    d: int = 1
    D: int | None = 100
    kappa: float | None = None

    def __post_init__(self):
        _choice(self.name, MANIFOLDS, "manifold.name")
        if self.d < 1:
            raise ValueError(f"manifold.d must be >= 1, got {self.d}")
        if self.name == "circle" and self.d != 1:
            raise ValueError(f"manifold.d must be 1 for the circle, got {self.d}")
        if self.D is not None and self.D < self.embedding_dim:
            raise ValueError(
                f"manifold.D={self.D} is below the embedding dimension {self.embedding_dim} "
                f"of {self.name} with d={self.d}"
            )
        if self.kappa is not None and self.name != "vmf_sphere":
            raise ValueError(f"manifold.kappa applies only to vmf_sphere, not {self.name!r}")

    @property
    def embedding_dim(self) -> int:
        """Dimension of the manifold's canonical space (``idm.manifolds.embedding_dim``)."""
        return manifolds.embedding_dim(self.name, self.d)

    @property
    def ambient_dim(self) -> int:
        """The ambient dimension D actually used."""
        return self.embedding_dim if self.D is None else self.D

    @property
    def is_sphere(self) -> bool:
        """True for the unit spheres (circle, sphere, vmf_sphere): radial shrinkage applies."""
        return self.name != "torus"


@dataclasses.dataclass(frozen=True)
class MethodConfig:
    """Which samplers one run evaluates, and their settings (``idm.sample``).

    Attributes:
        names: methods evaluated in every (n, seed) cell, a subset of ``RATE_METHODS``:
            the library's ``METHODS`` and ``idm_auto`` (IDM with c chosen per cell by
            ``idm.bandwidth.select_c`` at scale 1, as ``c``; see ``AUTO_METHODS``).
        c: bandwidth constant, sigma = c * n^(-1/(d+4)) (not used by ``idm_auto``).
        solver: "exact" (the fast path for sweeps), "sde" or "ode".
        steps: reverse steps for "sde" and "ode".
        T: start time of the reverse process.
        inertia: "tweedie" (posterior mean) or "paper" (e^s (x + s score)).
        t_end: end time of ``dm``. Far below the library's 1e-6: ``dm`` copies a training
            point only while sqrt(t_end) is small against the gaps between training points,
            and n uniform points on the circle have gaps down to about 1/n^2 (measured at
            n = 8192, D = 100, float64: copy fraction 0.35 at 1e-6, 0.70 at 1e-8, 0.95 at
            1e-10, 0.996 at 1e-12; S^2 is >= 0.995 at all of these). Needs float64.
        precision: matmul precision of the score.
        block_size: training points per streamed score block (None: the backend default).
    """

    names: tuple[str, ...] = ("idm", "train", "dm")
    c: float = 1.0
    solver: str = "exact"
    steps: int = 100
    T: float = 8.0
    inertia: str = "tweedie"
    t_end: float = 1e-12
    precision: str = "highest"
    block_size: int | None = None

    def __post_init__(self):
        _tuple(self, "names")
        if not self.names:
            raise ValueError("method.names must list at least one method")
        for name in self.names:
            _choice(name, RATE_METHODS, "method.names[...]")
        if len(set(self.names)) != len(self.names):
            raise ValueError(f"method.names has duplicates: {list(self.names)}")
        _choice(self.solver, SOLVERS, "method.solver")
        _choice(self.inertia, INERTIAS, "method.inertia")
        _choice(self.precision, PRECISIONS, "method.precision")
        if not self.c > 0:
            raise ValueError(f"method.c must be > 0, got {self.c}")
        if self.steps < 1:
            raise ValueError(f"method.steps must be >= 1, got {self.steps}")
        if not 0 < self.t_end < self.T:
            raise ValueError(f"need 0 < method.t_end < method.T, got {self.t_end}, {self.T}")

    def sigma(self, n: int, d: int) -> float:
        """Bandwidth c * n^(-1/(d+4)) (``idm.schedule.bandwidth``)."""
        return schedule.bandwidth(n, d, self.c)


TRAINED_SOLVERS = ("sde", "ode")
TRAINED_DTYPES = ("float32", "float64")


@dataclasses.dataclass(frozen=True)
class TrainedConfig(trained_lib.TrainConfig):
    """The trained score network of ``method=trained`` (``idm.trained``) and its sampling.

    The network and optimiser fields are inherited from :class:`idm.trained.TrainConfig`
    (defaults and checks there, with the ``trained.`` prefix in every message). Defaults
    measured on S^2 in D = 100 at n = 1024 (float32, 2 shared CPU cores): 4000 steps of width
    256 x 3 train in 16-30 s and reach a DSM loss of 0.086 (the zero network scores 1).

    Attributes:
        width, depth, features, steps, batch, lr, warmup, ema, clip, t_min, T, chunk: see
            :class:`idm.trained.TrainConfig`.
        solver: "sde" or "ode" (``exact`` does not exist for a network).
        sample_steps: reverse steps of the solver, from T down to t_min.
        dtype: training and sampling dtype ("float32": the network is not the
            precision-sensitive part; the samples are cast to float64 for evaluation).
        cache_dir: where trained models are kept, keyed by a hash of the training set, the
            key and these settings (None: ``<repo>/.cache/trained``; "" turns the cache off).
            Not part of the config hash.
    """

    solver: str = "sde"
    sample_steps: int = 100
    dtype: str = "float32"
    cache_dir: str | None = None

    def __post_init__(self):
        super().__post_init__()  # the library's checks, messages prefixed "trained."
        _choice(self.solver, TRAINED_SOLVERS, "trained.solver")
        _choice(self.dtype, TRAINED_DTYPES, "trained.dtype")
        if self.sample_steps < 1:
            raise ValueError(f"trained.sample_steps must be >= 1, got {self.sample_steps}")

    def train_config(self) -> trained_lib.TrainConfig:
        """The library's training settings."""
        names = {f.name for f in dataclasses.fields(trained_lib.TrainConfig)}
        return trained_lib.TrainConfig(**{k: getattr(self, k) for k in names})


@dataclasses.dataclass(frozen=True)
class EvaluatorConfig:
    """How W1 against the population is estimated (``idm.w1``).

    Attributes:
        method: "bracket" (``idm.w1.law.bracket``: W1 of the method's *law*, drawn by
            randomized QMC in the span of the data, against the population law, between
            certified bounds: exact OT and its dual, the monotone coupling on the circle, the
            distance to the manifold; the value is the middle, the error bar half the width),
            "extrapolated" (``idm.w1.law.extrapolated``: the plug-in at m, 2m and 4m extrapolated
            in m, an estimate with its spread), "exact" (the plug-in: network simplex between
            the m samples and the reference, float64), "sinkhorn" (ott-jax, annealed epsilon) or
            "semidiscrete" (``idm.w1.semidiscrete``: the samples against the continuous population
            law itself, so the population side has no sampling floor; the reference is not
            used). Its value is the dual of a potential fitted by ott-jax's semidiscrete solver,
            evaluated on fresh population points: a lower bound on W1 in expectation, equal to
            W1 at the optimum, with a Monte-Carlo standard error; ``converged`` means that
            standard error is under 0.5% of the value (the dual's optimality is not certified).
        reference: the population reference: "grid" (a deterministic low-discrepancy point
            set, randomly rotated per seed, where one is available: uniform circle and S^2, the
            torus with d = 1; otherwise an iid sample) or "iid" (an iid population sample).
        rtol: Sinkhorn's relative certificate, value - lower <= rtol * lower + atol, which
            also sets the final epsilon (None: the metric's default, 0.01).
        epsilon: Sinkhorn's final absolute epsilon (None: the metric's rule from rtol).
        threshold: Sinkhorn's convergence threshold (None: the metric's default).
        max_iterations: Sinkhorn's iteration cap, or the semidiscrete solver's iterations
            (None: the metric's default).
        n_eval: fresh population points of the semidiscrete evaluation (None: 2^18).
        m_law: law evaluators: draws per replicate of the monotone coupling on the circle
            (bracket), or the smallest plug-in size (extrapolated: m, 2m, 4m).
        m_exact: bracket: size of the exact OT problem.
        m_fresh: bracket: the least draws per replicate, and the fresh population points.
        replicates: law evaluators: independent randomizations (>= 2: standard errors).
        exact_mode: bracket: "auto" (exact OT when the bracket of the cheaper bounds is wider
            than auto_rtol; beside the matching only for lumpy laws, see
            ``evaluation.exact_mode``), "always" or "never".
        exact_replicates: bracket: replicates on which exact OT is solved.
        m_match: bracket, off the circle: draws of the bisection-matching upper bound
            (``idm.w1.matching``: median bisection with exact OT in leaves of ``match_leaf``
            points, then ``match_passes`` refinement passes; 0: none), solved when the bracket
            of the other bounds is wider than auto_rtol.
        match_leaf: bracket: the matching's leaf size.
        match_passes: bracket: the matching's refinement passes.
        cells: bracket, on S^d with d >= 2: anchors of the radial-tangential lower bound's
            potential (``idm.w1.sphere``).
        auto_rtol: bracket: the relative error bar under which "auto" skips exact OT.
        z: law evaluators: standard errors added to each bound.
        sobolev: bracket: the idm rows against the uniform S^d (d >= 1) add the H^-1 upper bound
            of ``idm.w1.sobolev`` (no population point set, so no quantisation; O(n^2) pair
            sum, ~90 s at n = 10^5), solved before exact OT and the matching when the bracket
            is wider than auto_rtol.

    With a law evaluator, the methods whose outputs leave the span (early_stop, kde) are
    measured by the exact plug-in in frame coordinates against the reference; every row reports
    beside its value the plug-in floor (exact W1 between an iid population sample of size
    ``sweep.m`` and the reference): the floor the old evaluator sat on.
    """

    method: str = "bracket"
    reference: str = "grid"
    rtol: float | None = None
    epsilon: float | None = None
    threshold: float | None = None
    max_iterations: int | None = None
    n_eval: int | None = None
    m_law: int = 2**14
    m_exact: int = 4096
    m_fresh: int = 2**14
    replicates: int = 2
    exact_mode: str = "auto"
    exact_replicates: int = 1
    m_match: int = 0
    match_leaf: int = 256
    match_passes: int = 4
    cells: int = 2048
    auto_rtol: float = 0.05
    z: float = 2.0
    sobolev: bool = False

    def __post_init__(self):
        _choice(self.method, EVALUATORS, "evaluator.method")
        if self.max_iterations is not None and self.max_iterations < 1:
            raise ValueError(f"evaluator.max_iterations must be >= 1, got {self.max_iterations}")
        if self.n_eval is not None and self.n_eval < 1000:
            raise ValueError(f"evaluator.n_eval must be >= 1000, got {self.n_eval}")
        _choice(self.reference, REFERENCES, "evaluator.reference")
        if self.rtol is not None and not self.rtol > 0:
            raise ValueError(f"evaluator.rtol must be > 0, got {self.rtol}")
        if self.epsilon is not None and not self.epsilon > 0:
            raise ValueError(f"evaluator.epsilon must be > 0, got {self.epsilon}")
        for name in ("m_law", "m_exact", "m_fresh", "match_leaf", "cells"):
            if getattr(self, name) < 2:
                raise ValueError(f"evaluator.{name} must be >= 2, got {getattr(self, name)}")
        if self.m_match != 0 and self.m_match < 2:
            raise ValueError(f"evaluator.m_match must be 0 (off) or >= 2, got {self.m_match}")
        if self.match_passes < 0:
            raise ValueError(f"evaluator.match_passes must be >= 0, got {self.match_passes}")
        if self.replicates < 1:
            raise ValueError(f"evaluator.replicates must be >= 1, got {self.replicates}")
        if self.exact_replicates < 1:
            got = self.exact_replicates
            raise ValueError(f"evaluator.exact_replicates must be >= 1, got {got}")
        _choice(self.exact_mode, EXACT_MODES, "evaluator.exact_mode")
        if not self.auto_rtol > 0:
            raise ValueError(f"evaluator.auto_rtol must be > 0, got {self.auto_rtol}")
        if not self.z >= 0:
            raise ValueError(f"evaluator.z must be >= 0, got {self.z}")

    @property
    def of_law(self) -> bool:
        """Whether the evaluator measures a method's law (``LAW_EVALUATORS``)."""
        return self.method in LAW_EVALUATORS

    @property
    def plugin(self) -> EvaluatorConfig:
        """The evaluator of the plug-in rows and of the floor: exact OT for the law evaluators."""
        return EvaluatorConfig(method="exact", reference=self.reference) if self.of_law else self


@dataclasses.dataclass(frozen=True)
class SweepConfig:
    """The inner loop of one run: the n grid, the seeds and the evaluation sizes.

    Attributes:
        ns: training-set sizes, increasing.
        seeds: number of seeds; seed i draws its own training set, samples and reference.
        m: samples generated and evaluated per (method, n, seed) (``train`` uses its
            min(n, m) training points).
        m_ref: size of the population reference (None: m).
        hist_samples: per-sample nearest-training distances saved for the memorization
            histogram (seed 0, methods dm, idm and cfdm); 0 saves none.
    """

    ns: tuple[int, ...] = (128, 256, 512, 1024, 2048, 4096, 8192)
    seeds: int = 5
    m: int = 2048
    m_ref: int | None = None
    hist_samples: int = 1000

    def __post_init__(self):
        _tuple(self, "ns")
        if not self.ns:
            raise ValueError("sweep.ns must list at least one n")
        if min(self.ns) < 2:
            raise ValueError(f"sweep.ns must all be >= 2, got {list(self.ns)}")
        if any(a >= b for a, b in zip(self.ns, self.ns[1:], strict=False)):
            raise ValueError(f"sweep.ns must be strictly increasing, got {list(self.ns)}")
        if self.seeds < 1:
            raise ValueError(f"sweep.seeds must be >= 1, got {self.seeds}")
        if self.m < 2:
            raise ValueError(f"sweep.m must be >= 2, got {self.m}")
        if self.m_ref is not None and self.m_ref < 2:
            raise ValueError(f"sweep.m_ref must be >= 2, got {self.m_ref}")
        if self.hist_samples < 0:
            raise ValueError(f"sweep.hist_samples must be >= 0, got {self.hist_samples}")

    @property
    def reference_size(self) -> int:
        """Size of the population reference."""
        return self.m if self.m_ref is None else self.m_ref


@dataclasses.dataclass(frozen=True)
class FitConfig:
    """Settings of ``idm.rates.fit_rate`` for the summary.

    Attributes:
        floor_factor: plug-in rows: points whose mean W1 is within this factor of the mean
            floor are dropped.
        max_rel_error: law-evaluator rows: points where any seed's error bar exceeds this
            fraction of its value are dropped.
        n_boot: bootstrap resamples over seeds.
    """

    floor_factor: float = 2.0
    max_rel_error: float = 0.1
    n_boot: int = 2000

    def __post_init__(self):
        if not self.floor_factor >= 1:
            raise ValueError(f"fit.floor_factor must be >= 1, got {self.floor_factor}")
        if not self.max_rel_error > 0:
            raise ValueError(f"fit.max_rel_error must be > 0, got {self.max_rel_error}")
        if self.n_boot < 10:
            raise ValueError(f"fit.n_boot must be >= 10, got {self.n_boot}")


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """One run of ``python -m experiments.rate``: one manifold, a list of methods, a sweep.

    Attributes:
        name: experiment name (labels the output directory and the figures).
        seed: root seed; every draw derives from it with ``jax.random.fold_in``.
        x64: enable float64 in JAX (applied by the entry point).
        skip_existing: return the saved rows when the run directory already has rows.csv and
            summary.json (lets an interrupted multirun resume by job).
        progress: show a progress bar (only on a terminal).
        figures: draw rate.png (and memorization.png) into the run directory.
        trained: the network of ``method=trained`` (part of the config hash only when
            ``trained`` is among ``method.names``, so other runs keep their directories).
    """

    name: str = "default"
    seed: int = 0
    x64: bool = True
    skip_existing: bool = True
    progress: bool = True
    figures: bool = True
    manifold: ManifoldConfig = dataclasses.field(default_factory=ManifoldConfig)
    method: MethodConfig = dataclasses.field(default_factory=MethodConfig)
    evaluator: EvaluatorConfig = dataclasses.field(default_factory=EvaluatorConfig)
    sweep: SweepConfig = dataclasses.field(default_factory=SweepConfig)
    fit: FitConfig = dataclasses.field(default_factory=FitConfig)
    trained: TrainedConfig = dataclasses.field(default_factory=TrainedConfig)


def _auto_or(value: str, kind: type, key: str):
    """Parses "auto" or a number of type ``kind`` from a config string."""
    if str(value).strip().lower() == "auto":
        return "auto"
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise ValueError(f"{key} must be 'auto' or {kind.__name__}, got {value!r}") from None


@dataclasses.dataclass(frozen=True)
class GenerateConfig:
    """One run of ``python -m experiments.generate``: new samples from a user's point cloud.

    Attributes:
        data_path: the training points, an (n, D) array in .npy, .npz or .csv.
        num_samples: samples to generate.
        out: output file (.npy, .npz or .csv); the report goes beside it as
            ``<out>.report.json`` (``samples.npy.report.json``). Its folder must exist, it must
            not be ``data_path``, and neither it nor its report may exist unless ``overwrite``.
        overwrite: replace an existing ``out`` and its report.
        d: intrinsic dimension, an integer or "auto" (estimated from the data,
            ``idm.intrinsic_dim``).
        c: bandwidth constant in sigma = c * scale * n^(-1/(d+4)), a number or "auto" (chosen
            on a held-out split, ``idm.bandwidth.select_c``).
        scale: the data's length scale in that rule, "auto" (``idm.bandwidth.length_scale``:
            the root-mean-square distance to the mean; 1 for a unit sphere) or a number (1: the
            rule without a length scale).
        sigma: the bandwidth itself (overrides d's and c's rule when set).
        method: "idm" or one of the baselines of ``METHODS``.
        solver, steps, T, inertia, precision, block_size: as in ``idm.sample``.
        seed: root seed (every draw derives from it with ``fold_in``).
        x64: compute in float64 (slower; float32 with 'highest' precision is accurate at
            t = sigma^2).
        batch: samples per chunk (one progress-bar step).
        progress: show progress bars (only on a terminal).
    """

    data_path: str = "???"
    num_samples: int = 1000
    out: str = "samples.npy"
    overwrite: bool = False
    d: str = "auto"
    c: str = "1.0"
    scale: str = "auto"
    sigma: float | None = None
    method: str = "idm"
    solver: str = "exact"
    steps: int = 100
    T: float = 8.0
    inertia: str = "tweedie"
    precision: str = "highest"
    block_size: int | None = None
    seed: int = 0
    x64: bool = False
    batch: int = 4096
    progress: bool = True

    def __post_init__(self):
        object.__setattr__(self, "d", _auto_or(self.d, int, "d"))
        object.__setattr__(self, "c", _auto_or(self.c, float, "c"))
        object.__setattr__(self, "scale", _auto_or(self.scale, float, "scale"))
        if self.scale != "auto" and not self.scale > 0:
            raise ValueError(f"scale must be > 0 or 'auto', got {self.scale}")
        if self.d != "auto" and self.d < 1:
            raise ValueError(f"d must be >= 1 or 'auto', got {self.d}")
        if self.c != "auto" and not self.c > 0:
            raise ValueError(f"c must be > 0 or 'auto', got {self.c}")
        if self.sigma is not None and not self.sigma > 0:
            raise ValueError(f"sigma must be > 0, got {self.sigma}")
        if self.num_samples < 1:
            raise ValueError(f"num_samples must be >= 1, got {self.num_samples}")
        _choice(self.method, METHODS, "method")
        _choice(self.solver, SOLVERS, "solver")
        _choice(self.inertia, INERTIAS, "inertia")
        _choice(self.precision, PRECISIONS, "precision")
        if self.steps < 1:
            raise ValueError(f"steps must be >= 1, got {self.steps}")
        if not self.T > 0:
            raise ValueError(f"T must be > 0, got {self.T}")
        if self.batch < 1:
            raise ValueError(f"batch must be >= 1, got {self.batch}")
        if os.path.splitext(self.out)[1] not in DATA_SUFFIXES:
            raise ValueError(f"out must end in one of {list(DATA_SUFFIXES)}, got {self.out!r}")


TRADEOFF_METHODS = ("idm", "cfdm", "kde", "dm", "train")
# ... and the trained network, on request only (it trains one model per split)
TRADEOFF_CHOICES = (*TRADEOFF_METHODS, "trained")
DATASETS = ("digits",)


@dataclasses.dataclass(frozen=True)
class TradeoffConfig:
    """One run of ``python -m experiments.tradeoff``: novelty against fidelity on real data.

    Attributes:
        data: a bundled data set ("digits": scikit-learn's 8x8 digits, values / 16, with
            labels), used when ``data_path`` is not given.
        data_path: an (n, D) point cloud of your own (.npy, .npz, .csv); no labels, so no
            classifier score.
        splits: train/test splits, one per seed.
        test_fraction: held-out fraction of each split.
        methods: a subset of ``TRADEOFF_CHOICES`` (idm, cfdm, kde over the c grid; dm, train
            once; trained, the network of ``trained``, once per split: not in the default).
        c_grid: bandwidth constants, sigma = c * scale * n^(-1/(d+4)).
        d: intrinsic dimension, an integer or "auto" (estimated on each training split).
        scale: length scale, a number or "auto" (``idm.bandwidth.length_scale`` of each
            training split).
        auto: add IDM at ``c=auto`` (``idm.bandwidth.select_c`` on each training split).
        max_copy_fraction: the memorization guard of ``c=auto``, and the line drawn in the figure.
        num_samples: samples per (method, c, split).
        seed: root seed (every draw derives from it with ``fold_in``).
        x64: compute in float64.
        figures: draw tradeoff.png and samples.png.
        progress: show a progress bar (only on a terminal).
        trained: the network of ``methods=[..., trained]``, trained on each training split in
            the sampler's unit-scale coordinates ``(x - mean) / scale``.
    """

    data: str = "digits"
    data_path: str | None = None
    splits: int = 5
    test_fraction: float = 0.165
    methods: tuple[str, ...] = TRADEOFF_METHODS
    c_grid: tuple[float, ...] = (
        0.1,
        0.15,
        0.2,
        0.25,
        0.3,
        0.35,
        0.4,
        0.45,
        0.5,
        0.6,
        0.7,
        0.85,
        1.0,
    )
    d: str = "auto"
    scale: str = "auto"
    auto: bool = True
    max_copy_fraction: float = 0.01
    num_samples: int = 4096
    seed: int = 0
    x64: bool = True
    figures: bool = True
    progress: bool = True
    trained: TrainedConfig = dataclasses.field(default_factory=TrainedConfig)

    def __post_init__(self):
        _tuple(self, "methods")
        _tuple(self, "c_grid")
        object.__setattr__(self, "d", _auto_or(self.d, int, "d"))
        object.__setattr__(self, "scale", _auto_or(self.scale, float, "scale"))
        if self.data_path is None:
            _choice(self.data, DATASETS, "data")
        elif os.path.splitext(self.data_path)[1] not in DATA_SUFFIXES:
            raise ValueError(
                f"data_path must end in one of {list(DATA_SUFFIXES)}, got {self.data_path!r}"
            )
        if self.splits < 1:
            raise ValueError(f"splits must be >= 1, got {self.splits}")
        if not 0 < self.test_fraction < 1:
            raise ValueError(f"test_fraction must be in (0, 1), got {self.test_fraction}")
        if not self.methods:
            raise ValueError("methods must list at least one method")
        for m in self.methods:
            _choice(m, TRADEOFF_CHOICES, "methods[...]")
        if not self.c_grid or not all(c > 0 for c in self.c_grid):
            raise ValueError(f"c_grid must list positive constants, got {list(self.c_grid)}")
        if self.d != "auto" and self.d < 1:
            raise ValueError(f"d must be >= 1 or 'auto', got {self.d}")
        if self.scale != "auto" and not self.scale > 0:
            raise ValueError(f"scale must be > 0 or 'auto', got {self.scale}")
        if not 0 <= self.max_copy_fraction < 1:
            raise ValueError(f"max_copy_fraction must be in [0, 1), got {self.max_copy_fraction}")
        if self.num_samples < 2:
            raise ValueError(f"num_samples must be >= 2, got {self.num_samples}")


@dataclasses.dataclass(frozen=True)
class CrossoverConfig:
    """One run of ``python -m experiments.crossover``: IDM against its own training set on S^d.

    Attributes:
        ds: sphere dimensions d (the population is the uniform S^d, in its own d + 1
            coordinates: W1 and IDM's law do not depend on an isometric embedding).
        ns: training set sizes.
        max_n: per d (a string key) the largest n run, e.g. ``{"8": 10000}``.
        cs: bandwidth constants, sigma = c n^(-1/(d+4)).
        auto: add IDM at ``c=auto`` (``idm.bandwidth.select_c`` on the training set, scale 1).
        auto_max_n: the largest n at which ``c=auto`` runs.
        seeds: training sets per (d, n).
        seed: root seed (every draw derives from it with ``fold_in``).
        m_fresh: IDM draws per replicate of each bound.
        replicates: independent randomizations of IDM's bounds (their spread, their error).
        sphere_cells: anchors of the radial-tangential lower bound (0: radial bound only).
        dual_iterations: ascent steps of the training set's semidiscrete potential g.
        dual_max_n: the largest n with the ascent (and the training set's plan upper bound);
            above it g = 0, the quantisation lower bound E_U min_i |y - x_i|.
        n_eval: fresh population points of the training set's bounds.
        copy_samples: IDM samples for the copy fraction.
        z: standard errors added to every bound.
        collect: summarise the finished cells only (computing none); the summary lists the
            missing ones.
        x64: compute in float64.
        figures: draw crossover.png.
        progress: show a progress bar (only on a terminal).
    """

    ds: tuple[int, ...] = (4, 5, 6, 8)
    ns: tuple[int, ...] = (1000, 3000, 10000, 30000)
    max_n: dict[str, int] = dataclasses.field(default_factory=dict)
    cs: tuple[float, ...] = (0.5, 0.6, 0.7, 0.8, 1.0)
    auto: bool = True
    auto_max_n: int = 30000
    seeds: int = 3
    seed: int = 0
    m_fresh: int = 8192
    replicates: int = 2
    sphere_cells: int = 1024
    dual_iterations: int = 1000
    dual_max_n: int = 10000
    n_eval: int = 32768
    copy_samples: int = 4096
    z: float = 2.0
    collect: bool = False
    x64: bool = True
    figures: bool = True
    progress: bool = True

    def __post_init__(self):
        _tuple(self, "ds")
        _tuple(self, "ns")
        _tuple(self, "cs")
        object.__setattr__(self, "max_n", dict(self.max_n))
        if not self.ds or not all(d >= 2 for d in self.ds):
            raise ValueError(f"ds must list sphere dimensions >= 2, got {list(self.ds)}")
        if not self.ns or not all(n >= 16 for n in self.ns):
            raise ValueError(f"ns must list training set sizes >= 16, got {list(self.ns)}")
        if not all(c > 0 for c in self.cs) or not (self.cs or self.auto):
            raise ValueError(f"cs must list positive constants (or auto), got {list(self.cs)}")
        for key, value in self.max_n.items():
            if not (str(key).isdigit() and value >= 16):
                raise ValueError(f"max_n must map a d to a size >= 16, got {key}: {value}")
        for key in ("seeds", "m_fresh", "replicates", "n_eval", "copy_samples"):
            if getattr(self, key) < (2 if key in ("replicates", "m_fresh") else 1):
                raise ValueError(f"{key} must be positive, got {getattr(self, key)}")
        if self.dual_iterations < 0 or self.sphere_cells < 0:
            raise ValueError("dual_iterations and sphere_cells must be >= 0")
        if not self.z >= 0:
            raise ValueError(f"z must be >= 0, got {self.z}")
