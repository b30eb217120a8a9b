"""The record every W1 evaluator returns, its warning, and the input check they share."""

from __future__ import annotations

import dataclasses
import math
import types
from collections.abc import Mapping

import numpy as np

__all__ = ["W1Estimate", "W1NotConverged", "check_clouds", "read_only"]


class W1NotConverged(UserWarning):
    """A W1 solve ended without meeting its stopping rule; its record has converged=False."""


def read_only(mapping: Mapping | None = None) -> Mapping:
    """A read-only copy of ``mapping`` (insertion order kept)."""
    return types.MappingProxyType(dict(mapping or {}))


@dataclasses.dataclass(frozen=True)
class W1Estimate:
    r"""A W1 value with its error bar, the bounds that decided it, and the solver's diagnostics.

    Every evaluator returns one (as ott-jax's solvers return their outputs): the plug-in solvers
    (:func:`idm.w1.w1_result`), the semidiscrete one (:mod:`idm.w1.semidiscrete`) and the law
    evaluators (:mod:`idm.w1.law`).

    Attributes:
        value: the estimate. ``exact``: the optimum; ``sinkhorn``: the entropic plan's cost
            clipped to ``[lower, upper]``; ``semidiscrete``: the dual value on fresh points;
            ``bracket``: the middle of ``[lower, upper]``; ``extrapolated``: the extrapolation.
        lower: a lower bound on W1 (NaN when none is known).
        upper: an upper bound on W1 (NaN when none was computed).
        error: the error bar at ``z`` standard errors: half the width of ``[lower, upper]``
            (``exact``, ``sinkhorn``, ``bracket``; 0 for an exact optimum), ``value - lower``
            (``semidiscrete``: ``z`` Monte-Carlo standard errors of ``value``), or the
            extrapolation's size plus its spread (``extrapolated``).
        z: the standard errors behind ``error`` and the bounds (0: deterministic bounds, up to
            float rounding). ``error / z`` is one standard error where ``z > 0``.
        method: the evaluator: ``"exact"``, ``"sinkhorn"``, ``"semidiscrete"``, ``"bracket"``
            or ``"extrapolated"``.
        converged: every solver reached its stopping rule (``sinkhorn``: the bracket certifies
            ``upper - lower <= rtol * lower + atol``; ``bracket``: the bracket is not inverted
            and every exact solve reached its optimum). Never drop it on the way to a results
            file.
        lower_by: the bound that set ``lower`` (``""`` when none).
        upper_by: the bound that set ``upper`` (``""`` when none).
        diagnostics: read-only, the evaluator's own numbers: ``n_iters``, ``epsilon``,
            ``marginal_error`` (``sinkhorn``); ``value_se``, ``plan_cost``, ``correction``, ...
            (``semidiscrete``); ``parts`` (every bound computed, by name, with its standard
            error), ``m``, ``replicates``, ``seconds`` (the law evaluators).
    """

    value: float
    lower: float
    upper: float
    error: float
    method: str
    converged: bool
    z: float = 0.0
    lower_by: str = ""
    upper_by: str = ""
    diagnostics: Mapping = dataclasses.field(default_factory=read_only)

    def __post_init__(self):
        object.__setattr__(self, "diagnostics", read_only(self.diagnostics))

    @property
    def rel_error(self) -> float:
        """``error / value`` (inf when ``value <= 0``)."""
        return self.error / self.value if self.value > 0 else math.inf


def check_clouds(x, y):
    """``ValueError`` unless x and y are non-empty (n, D) and (m, D) clouds of finite points.

    Non-finite points are bad input, refused with ``ValueError`` as everywhere else
    (:mod:`idm._checks`); a solver's non-finite *result* is a ``FloatingPointError``.
    """
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"need (n, D) and (m, D) point clouds, got {x.shape} and {y.shape}")
    if x.shape[0] == 0 or y.shape[0] == 0:
        raise ValueError("W1 needs non-empty point clouds")
    for name, z in (("x", x), ("y", y)):
        bad = ~np.isfinite(np.asarray(z)).all(axis=1)  # NumPy: float64 values stay float64
        if bad.any():
            raise ValueError(
                f"W1: {int(bad.sum())} of {len(bad)} points of {name} are not finite "
                f"(first at row {int(np.argmax(bad))})"
            )
