"""The schema of ``python -m experiments.bench`` (``conf/bench/``): :class:`BenchConfig`.

Types only (the values are the YAML's), so that a misspelt key or a wrong type fails when Hydra
composes the config, before anything is timed or written.
"""

import dataclasses

from omegaconf import MISSING

__all__ = ["BenchConfig", "EvaluatorBench", "KernelBench", "LawBench", "SamplerBench"]


@dataclasses.dataclass
class KernelBench:
    """The score-kernel rows: one per (m, n, D) shape and block size."""

    shapes: list[list[int]] = MISSING
    t: float = MISSING
    naive: bool = MISSING
    numpy_peer: bool = MISSING
    blocks: list[int] | None = None


@dataclasses.dataclass
class SamplerBench:
    """The end-to-end sampler rows."""

    enabled: bool = MISSING
    n: int = MISSING
    m: int = MISSING
    D: int = MISSING
    steps: int = MISSING
    solvers: list[str] = MISSING
    repeats: int = MISSING


@dataclasses.dataclass
class LawBench:
    """A rate row of the law evaluator."""

    enabled: bool = MISSING
    n: int = MISSING
    m_law: int = MISSING
    m_exact: int = MISSING
    repeats: int = MISSING


@dataclasses.dataclass
class EvaluatorBench:
    """The W1 evaluator rows."""

    enabled: bool = MISSING
    sizes: list[int] = MISSING


@dataclasses.dataclass
class BenchConfig:
    """``python -m experiments.bench``'s config."""

    seed: int = MISSING
    x64: bool = MISSING
    repeats: int = MISSING
    kernel: KernelBench = dataclasses.field(default_factory=KernelBench)
    sampler: SamplerBench = dataclasses.field(default_factory=SamplerBench)
    law: LawBench = dataclasses.field(default_factory=LawBench)
    evaluator: EvaluatorBench = dataclasses.field(default_factory=EvaluatorBench)
