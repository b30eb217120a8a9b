"""How the rate app estimates W1 against the population (``idm.w1``): one schema per evaluator.

``evaluator=NAME`` (``conf/rate/evaluator/NAME.yaml``) selects the evaluator and with it its
schema, so each evaluator has only its own settings, and a setting of another one
(``evaluator=exact evaluator.m_law=...``) fails at start-up with the key named:

* ``bracket`` (:class:`BracketEvaluator`, ``idm.w1.law.bracket``): W1 of the method's *law*,
  drawn by randomized QMC in the span of the data, against the population law, between
  certified bounds (exact OT and its dual, the monotone coupling on the circle, the distance to
  the manifold); the value is the middle, the error bar half the width.
* ``extrapolated`` (:class:`ExtrapolatedEvaluator`, ``idm.w1.law.extrapolated``): the plug-in
  at m, 2m and 4m extrapolated in m, an estimate with its spread.
* ``exact`` (:class:`ExactEvaluator`): the plug-in, network simplex between the m samples and
  the reference, float64.
* ``sinkhorn`` (:class:`SinkhornEvaluator`): ott-jax, annealed epsilon.
* ``semidiscrete`` (:class:`SemidiscreteEvaluator`, ``idm.w1.semidiscrete``): the samples
  against the continuous population law itself, so the population side has no sampling floor
  (the reference is not used). Its value is the dual of a potential fitted by ott-jax's
  semidiscrete solver, evaluated on fresh population points: a lower bound on W1 in
  expectation, equal to W1 at the optimum, with a Monte-Carlo standard error; ``converged``
  means that standard error is under 0.5% of the value (the dual's optimality is not certified).

With a law evaluator, the methods whose outputs leave the span (early_stop, kde) are measured by
the exact plug-in in frame coordinates against the reference; every row reports beside its value
the plug-in floor (exact W1 between an iid population sample of size ``sweep.m`` and the
reference): the floor the old evaluator sat on.

**The config hash.** Until the split, one class held all twenty settings, so every committed
job's hash (``experiments.helpers.store``) covers all of them, the ones its evaluator ignores at
their defaults then. :meth:`EvaluatorConfig.hash_record` rebuilds that record
(:data:`HASHED_DEFAULTS` with the evaluator's own settings over it, each under its hashed name),
so the hashes, and with them the committed sweeps' resumption, are unchanged.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from omegaconf import MISSING

from experiments.helpers.schemas.common import _choice

__all__ = [
    "EVALUATORS",
    "EXACT_MODES",
    "HASHED_DEFAULTS",
    "LAW_EVALUATORS",
    "REFERENCES",
    "BracketEvaluator",
    "EvaluatorConfig",
    "ExactEvaluator",
    "ExtrapolatedEvaluator",
    "SemidiscreteEvaluator",
    "SinkhornEvaluator",
]

EXACT_MODES = ("auto", "always", "never")
REFERENCES = ("grid", "iid")

#: The record the config hash covers, at the defaults it had while one class held every
#: evaluator's settings. Fixed: a change here changes the hash of every committed job.
HASHED_DEFAULTS = {
    "method": "bracket",
    "reference": "grid",
    "rtol": None,
    "epsilon": None,
    "threshold": None,
    "max_iterations": None,
    "n_eval": None,
    "m_law": 2**14,
    "m_exact": 4096,
    "m_fresh": 2**14,
    "replicates": 2,
    "exact_mode": "auto",
    "exact_replicates": 1,
    "m_match": 0,
    "match_leaf": 256,
    "match_passes": 4,
    "cells": 2048,
    "auto_rtol": 0.05,
    "z": 2.0,
    "sobolev": False,
}


def _at_least(obj, names, low: int) -> None:
    for name in names:
        if getattr(obj, name) < low:
            raise ValueError(f"evaluator.{name} must be >= {low}, got {getattr(obj, name)}")


@dataclasses.dataclass(frozen=True)
class EvaluatorConfig:
    """What every evaluator has: its name and the population reference.

    The base of the ``evaluator`` group's schemas (the rate app's ``evaluator`` section is typed
    by it; each option of the group merges its own subclass into it).

    Attributes:
        method: the evaluator's name, set by its group option (``evaluator=NAME``).
        reference: the population reference: "grid" (a deterministic low-discrepancy point
            set, randomly rotated per seed, where one is available: uniform circle and S^2, the
            torus with d = 1; otherwise an iid sample) or "iid" (an iid population sample).
    """

    #: The evaluator's name in the group, in the rows and in ``method``.
    NAME: ClassVar[str] = ""
    #: Whether it measures a method's law (``LAW_EVALUATORS``) rather than m samples.
    of_law: ClassVar[bool] = False
    #: Settings renamed since the config hash was fixed: {field: name in the hashed record}.
    HASH_NAMES: ClassVar[dict[str, str]] = {}

    method: str = MISSING
    reference: str = "grid"

    def __post_init__(self):
        if self.method != self.NAME:
            raise ValueError(
                f"evaluator.method must be {self.NAME!r} (choose the evaluator with "
                f"evaluator=NAME, one of {list(EVALUATORS)}), got {self.method!r}"
            )
        _choice(self.reference, REFERENCES, "evaluator.reference")

    @property
    def plugin(self) -> EvaluatorConfig:
        """The evaluator of the plug-in rows and of the floor: exact OT for the law evaluators."""
        return ExactEvaluator(reference=self.reference) if self.of_law else self

    def hash_record(self) -> dict:
        """The flat record the config hash covers (see the module docstring)."""
        record = dict(HASHED_DEFAULTS)
        for f in dataclasses.fields(self):
            record[self.HASH_NAMES.get(f.name, f.name)] = getattr(self, f.name)
        return record


@dataclasses.dataclass(frozen=True)
class BracketEvaluator(EvaluatorConfig):
    """``evaluator=bracket``: W1 of the method's law between certified bounds.

    Attributes:
        m_law: draws per replicate of the monotone coupling on the circle.
        m_exact: size of the exact OT problem.
        m_fresh: the least draws per replicate, and the fresh population points.
        replicates: independent randomizations (>= 2: standard errors).
        exact_mode: "auto" (exact OT when the bracket of the cheaper bounds is wider than
            auto_rtol; beside the matching only for lumpy laws, see ``evaluation.exact_mode``),
            "always" or "never".
        exact_replicates: replicates on which exact OT is solved.
        m_match: off the circle: draws of the bisection-matching upper bound
            (``idm.w1.matching``: median bisection with exact OT in leaves of ``match_leaf``
            points, then ``match_passes`` refinement passes; 0: none), solved when the bracket
            of the other bounds is wider than auto_rtol.
        match_leaf: the matching's leaf size.
        match_passes: the matching's refinement passes.
        cells: on S^d with d >= 2: anchors of the radial-tangential lower bound's potential
            (``idm.w1.sphere``).
        auto_rtol: the relative error bar under which "auto" skips exact OT.
        z: standard errors added to each bound.
        sobolev: the idm rows against the uniform S^d (d >= 1) add the H^-1 upper bound of
            ``idm.w1.sobolev`` (no population point set, so no quantisation; O(n^2) pair sum,
            ~90 s at n = 10^5), solved before exact OT and the matching when the bracket is
            wider than auto_rtol.
    """

    NAME: ClassVar[str] = "bracket"
    of_law: ClassVar[bool] = True

    method: str = "bracket"
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
        super().__post_init__()
        _at_least(self, ("m_law", "m_exact", "m_fresh", "match_leaf", "cells"), 2)
        if self.m_match != 0 and self.m_match < 2:
            raise ValueError(f"evaluator.m_match must be 0 (off) or >= 2, got {self.m_match}")
        if self.match_passes < 0:
            raise ValueError(f"evaluator.match_passes must be >= 0, got {self.match_passes}")
        _at_least(self, ("replicates", "exact_replicates"), 1)
        _choice(self.exact_mode, EXACT_MODES, "evaluator.exact_mode")
        if not self.auto_rtol > 0:
            raise ValueError(f"evaluator.auto_rtol must be > 0, got {self.auto_rtol}")
        if not self.z >= 0:
            raise ValueError(f"evaluator.z must be >= 0, got {self.z}")

    @property
    def draw_sizes(self) -> dict[str, int]:
        """Draws of the law in one call, by the setting that sizes them (the memory check)."""
        return {f: getattr(self, f) for f in ("m_law", "m_match", "m_fresh", "m_exact")}

    @property
    def exact_size(self) -> int:
        """Points per side of the largest exact OT problem: its own, or the sphere bound's."""
        return max(self.m_exact, self.cells)


@dataclasses.dataclass(frozen=True)
class ExtrapolatedEvaluator(EvaluatorConfig):
    """``evaluator=extrapolated``: the plug-in W1 of the law at m, 2m and 4m, extrapolated.

    Attributes:
        m_law: the smallest plug-in size (m, 2m, 4m).
        replicates: independent randomizations (>= 2: standard errors).
    """

    NAME: ClassVar[str] = "extrapolated"
    of_law: ClassVar[bool] = True
    #: Read of every law evaluator by the cell code: no Sobolev bound here, and the rows'
    #: ``m_ref`` column, which has held the bracket's default exact size since the split.
    sobolev: ClassVar[bool] = False
    m_exact: ClassVar[int] = HASHED_DEFAULTS["m_exact"]

    method: str = "extrapolated"
    m_law: int = 2**14
    replicates: int = 2

    def __post_init__(self):
        super().__post_init__()
        _at_least(self, ("m_law",), 2)
        _at_least(self, ("replicates",), 1)

    @property
    def draw_sizes(self) -> dict[str, int]:
        """Draws of the law in one call, by the setting that sizes them (the memory check)."""
        return {"m_law": 4 * self.m_law}

    @property
    def exact_size(self) -> int:
        """Points per side of the largest exact OT problem (the plug-in at 4m)."""
        return 4 * self.m_law


@dataclasses.dataclass(frozen=True)
class ExactEvaluator(EvaluatorConfig):
    """``evaluator=exact``: the plug-in, exact W1 (network simplex, float64) to the reference."""

    NAME: ClassVar[str] = "exact"

    method: str = "exact"


@dataclasses.dataclass(frozen=True)
class SinkhornEvaluator(EvaluatorConfig):
    """``evaluator=sinkhorn``: the plug-in by ott-jax Sinkhorn (annealed epsilon).

    Attributes:
        rtol: the relative certificate, value - lower <= rtol * lower + atol, which also sets
            the final epsilon (None: the metric's default, 0.01).
        epsilon: the final absolute epsilon (None: the metric's rule from rtol).
        threshold: the convergence threshold (None: the metric's default).
        max_iterations: the iteration cap (None: the metric's default).
    """

    NAME: ClassVar[str] = "sinkhorn"

    method: str = "sinkhorn"
    rtol: float | None = None
    epsilon: float | None = None
    threshold: float | None = None
    max_iterations: int | None = None

    def __post_init__(self):
        super().__post_init__()
        if self.max_iterations is not None and self.max_iterations < 1:
            raise ValueError(f"evaluator.max_iterations must be >= 1, got {self.max_iterations}")
        if self.rtol is not None and not self.rtol > 0:
            raise ValueError(f"evaluator.rtol must be > 0, got {self.rtol}")
        if self.epsilon is not None and not self.epsilon > 0:
            raise ValueError(f"evaluator.epsilon must be > 0, got {self.epsilon}")


@dataclasses.dataclass(frozen=True)
class SemidiscreteEvaluator(EvaluatorConfig):
    """``evaluator=semidiscrete``: the samples against the continuous population law.

    Attributes:
        num_iterations: the semidiscrete solver's iterations (None: its default). Hashed as
            ``max_iterations``, the one name it shared with Sinkhorn's cap before the split.
        n_eval: fresh population points of the evaluation (None: 2^18).
    """

    NAME: ClassVar[str] = "semidiscrete"
    HASH_NAMES: ClassVar[dict[str, str]] = {"num_iterations": "max_iterations"}

    method: str = "semidiscrete"
    num_iterations: int | None = None
    n_eval: int | None = None

    def __post_init__(self):
        super().__post_init__()
        if self.num_iterations is not None and self.num_iterations < 1:
            got = self.num_iterations
            raise ValueError(f"evaluator.num_iterations must be >= 1, got {got}")
        if self.n_eval is not None and self.n_eval < 1000:
            raise ValueError(f"evaluator.n_eval must be >= 1000, got {self.n_eval}")


#: The evaluators by name (the options of the ``evaluator`` group).
EVALUATORS: dict[str, type[EvaluatorConfig]] = {
    c.NAME: c
    for c in (
        BracketEvaluator,
        ExtrapolatedEvaluator,
        ExactEvaluator,
        SinkhornEvaluator,
        SemidiscreteEvaluator,
    )
}
# The evaluators of a method's law (idm.w1.law); the others compare m samples with a reference.
LAW_EVALUATORS = tuple(name for name, c in EVALUATORS.items() if c.of_law)
