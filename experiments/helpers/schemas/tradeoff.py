"""The schema of ``python -m experiments.tradeoff`` (config root ``conf/tradeoff/``)."""

from __future__ import annotations

import dataclasses
import os.path

from experiments.helpers.schemas.common import (
    DATA_SUFFIXES,
    TrainedConfig,
    _auto_or,
    _choice,
    _tuple,
)

__all__ = ["DATASETS", "TRADEOFF_CHOICES", "TRADEOFF_METHODS", "TradeoffConfig"]

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
