"""The schema of ``python -m experiments.rate`` (``conf/rate/``): :class:`RunConfig`.

``experiments/rate.py`` registers it with Hydra's ConfigStore as the schema of
``conf/rate/config.yaml``, and each evaluator's schema
(:mod:`experiments.helpers.schemas.evaluators`) as that of its option of the ``evaluator``
group; every YAML value is merged into them, so an unknown key or a value of the wrong type
fails at start-up with the key named, and ``__post_init__`` checks the values
(``OmegaConf.to_object`` builds these classes, so the checks run before anything else).
Sequences are stored as tuples; derived quantities (sigma(n), the ambient dimension) are
computed by methods, never written back (configs are never mutated). A job's directory and
resumption are keyed by the hash of this config (``experiments.helpers.store``): a field
added here changes every hash, so committed sweeps would no longer find their jobs.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from experiments.helpers.schemas.common import (
    MANIFOLDS,
    METHODS,
    SamplerConfig,
    TrainedConfig,
    _choice,
    _tuple,
)
from experiments.helpers.schemas.evaluators import BracketEvaluator, EvaluatorConfig
from idm import manifolds, schedule

__all__ = [
    "AUTO_METHODS",
    "RATE_METHODS",
    "FitConfig",
    "ManifoldConfig",
    "MethodConfig",
    "RunConfig",
    "SweepConfig",
]

# The rate app's own methods beside the library's: IDM at a bandwidth constant chosen per
# (n, seed) cell on that cell's training set (``idm.bandwidth.select_c``, c=auto), sampled and
# evaluated exactly as ``idm`` (the library method each maps to).
AUTO_METHODS = {"idm_auto": "idm"}
RATE_METHODS = (*METHODS, *AUTO_METHODS)


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
class MethodConfig(SamplerConfig):
    """Which samplers one run evaluates, and their settings (``idm.sample``).

    Attributes:
        names: methods evaluated in every (n, seed) cell, a subset of ``RATE_METHODS``:
            the library's ``METHODS`` and ``idm_auto`` (IDM with c chosen per cell by
            ``idm.bandwidth.select_c`` at scale 1, as ``c``; see ``AUTO_METHODS``).
        c: bandwidth constant, sigma = c * n^(-1/(d+4)) (not used by ``idm_auto``).
        t_end: end time of ``dm``. Far below the library's 1e-6: ``dm`` copies a training
            point only while sqrt(t_end) is small against the gaps between training points,
            and n uniform points on the circle have gaps down to about 1/n^2 (measured at
            n = 8192, D = 100, float64: copy fraction 0.35 at 1e-6, 0.70 at 1e-8, 0.95 at
            1e-10, 0.996 at 1e-12; S^2 is >= 0.995 at all of these). Needs float64.
        solver, steps, T, inertia, precision, block_size: the sampler's
            (:class:`~experiments.helpers.schemas.common.SamplerConfig`).
    """

    PREFIX: ClassVar[str] = "method."

    names: tuple[str, ...] = ("idm", "train", "dm")
    c: float = 1.0
    t_end: float = 1e-12

    def __post_init__(self):
        _tuple(self, "names")
        if not self.names:
            raise ValueError("method.names must list at least one method")
        for name in self.names:
            _choice(name, RATE_METHODS, "method.names[...]")
        if len(set(self.names)) != len(self.names):
            raise ValueError(f"method.names has duplicates: {list(self.names)}")
        super().__post_init__()  # solver, inertia, precision, steps, T
        if not self.c > 0:
            raise ValueError(f"method.c must be > 0, got {self.c}")
        if not 0 < self.t_end < self.T:
            raise ValueError(f"need 0 < method.t_end < method.T, got {self.t_end}, {self.T}")

    def sigma(self, n: int, d: int) -> float:
        """Bandwidth c * n^(-1/(d+4)) (``idm.schedule.bandwidth``)."""
        return schedule.bandwidth(n, d, self.c)


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
        evaluator: one of the ``evaluator`` group's schemas (the bracket by default).
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
    evaluator: EvaluatorConfig = dataclasses.field(default_factory=BracketEvaluator)
    sweep: SweepConfig = dataclasses.field(default_factory=SweepConfig)
    fit: FitConfig = dataclasses.field(default_factory=FitConfig)
    trained: TrainedConfig = dataclasses.field(default_factory=TrainedConfig)
