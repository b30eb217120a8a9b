"""The pieces every app's schema shares: the name lists, the sampler, the trained network.

The manifolds, methods, solvers, inertia steps and precisions are the library's own lists
(``idm.manifolds``, ``idm.samplers``, ``idm.score``), imported here: one definition each.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from idm import manifolds
from idm import trained as trained_lib
from idm.samplers import BANDWIDTH_METHODS, INERTIAS, METHODS, SOLVERS
from idm.score import PRECISIONS

__all__ = [
    "BANDWIDTH_METHODS",
    "DATA_SUFFIXES",
    "INERTIAS",
    "MANIFOLDS",
    "METHODS",
    "PRECISIONS",
    "SOLVERS",
    "SamplerConfig",
    "TrainedConfig",
]

MANIFOLDS = manifolds.NAMES
DATA_SUFFIXES = (".npy", ".npz", ".csv")


def _tuple(obj, name: str) -> None:
    """Stores field ``name`` of a frozen dataclass as a tuple (OmegaConf hands back lists)."""
    object.__setattr__(obj, name, tuple(getattr(obj, name)))


def _choice(value, allowed, key: str) -> None:
    if value not in allowed:
        raise ValueError(f"{key} must be one of {list(allowed)}, got {value!r}")


def _auto_or(value: str, kind: type, key: str):
    """Parses "auto" or a number of type ``kind`` from a config string."""
    if str(value).strip().lower() == "auto":
        return "auto"
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise ValueError(f"{key} must be 'auto' or {kind.__name__}, got {value!r}") from None


@dataclasses.dataclass(frozen=True)
class SamplerConfig:
    """How ``idm.sample`` runs the reverse process: the settings the rate and generate apps share.

    Inherited, not nested, by the rate app's ``method`` section and by the generate app's top
    level, so their keys (``method.solver=sde``, ``solver=sde``) and the rate app's config hashes
    are those of the fields they had before.

    Attributes:
        solver: "exact" (draw from p_{t_end} directly: the fast path), "sde" or "ode".
        steps: reverse steps for "sde" and "ode".
        T: start time of the reverse process.
        inertia: "tweedie" (posterior mean) or "paper" (e^s (x + s score)).
        precision: matmul precision of the score.
        block_size: training points per streamed score block (None: the backend default).
    """

    #: How the checks name a field: "method." in the rate app, nothing in the generate app.
    PREFIX: ClassVar[str] = ""

    solver: str = "exact"
    steps: int = 100
    T: float = 8.0
    inertia: str = "tweedie"
    precision: str = "highest"
    block_size: int | None = None

    def __post_init__(self):
        p = self.PREFIX
        _choice(self.solver, SOLVERS, f"{p}solver")
        _choice(self.inertia, INERTIAS, f"{p}inertia")
        _choice(self.precision, PRECISIONS, f"{p}precision")
        if self.steps < 1:
            raise ValueError(f"{p}steps must be >= 1, got {self.steps}")
        if not self.T > 0:
            raise ValueError(f"{p}T must be > 0, got {self.T}")


TRAINED_SOLVERS = ("sde", "ode")
TRAINED_DTYPES = ("float32", "float64")


@dataclasses.dataclass(frozen=True)
class TrainedConfig(trained_lib.TrainConfig):
    """The trained score network of ``method=trained`` (``idm.trained``) and its sampling.

    Used by the rate and trade-off apps. The network and optimiser fields are inherited from
    :class:`idm.trained.TrainConfig` (defaults and checks there, with the ``trained.`` prefix in
    every message). Defaults measured on S^2 in D = 100 at n = 1024 (float32, 2 shared CPU
    cores): 4000 steps of width 256 x 3 train in 16-30 s and reach a DSM loss of 0.086 (the
    zero network scores 1).

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
