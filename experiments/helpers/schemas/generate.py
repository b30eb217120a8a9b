"""The schema of ``python -m experiments.generate`` (config root ``conf/generate/``)."""

from __future__ import annotations

import dataclasses
import os.path

from experiments.helpers.schemas.common import (
    DATA_SUFFIXES,
    METHODS,
    SamplerConfig,
    _auto_or,
    _choice,
)

__all__ = ["GenerateConfig"]


@dataclasses.dataclass(frozen=True)
class GenerateConfig(SamplerConfig):
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
        solver, steps, T, inertia, precision, block_size: as in ``idm.sample``
            (:class:`~experiments.helpers.schemas.common.SamplerConfig`, the rate app's too).
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
        super().__post_init__()  # solver, inertia, precision, steps, T
        if self.batch < 1:
            raise ValueError(f"batch must be >= 1, got {self.batch}")
        if os.path.splitext(self.out)[1] not in DATA_SUFFIXES:
            raise ValueError(f"out must end in one of {list(DATA_SUFFIXES)}, got {self.out!r}")
