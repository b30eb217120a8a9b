"""The schema of ``python -m experiments.crossover`` (config root ``conf/crossover/``)."""

from __future__ import annotations

import dataclasses

from experiments.helpers.schemas.common import _tuple

__all__ = ["CrossoverConfig"]


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
