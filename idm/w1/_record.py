"""The record every W1 evaluator returns, its warning, and the input checks they share."""

from __future__ import annotations

import dataclasses
import math

import numpy as np

__all__ = ["W1NotConverged", "W1Result", "check_clouds"]


class W1NotConverged(UserWarning):
    """A W1 solve ended without meeting its stopping rule; its record has converged=False."""


@dataclasses.dataclass(frozen=True)
class W1Result:
    r"""A W1 value with its solver diagnostics.

    Attributes:
        value: transport cost of the returned plan under the Euclidean cost (for Sinkhorn the
            entropic plan's ``primal_cost``, clipped to ``[lower, upper]``; for ``exact`` the
            optimum).
        converged: for Sinkhorn, the bracket certifies ``upper - lower <= rtol * lower +
            atol``; for ``exact``, the solver reached optimality. Never drop this flag on the
            way to a results file.
        n_iters: Sinkhorn iterations over all stages (0 for ``exact``).
        method: ``"sinkhorn"`` or ``"exact"``.
        epsilon: final absolute entropic regularisation (0 for ``exact``).
        lower: a certified lower bound on W1 (c-transformed dual potentials).
        upper: a certified upper bound on W1 (cost of the rounded, feasible plan).
        marginal_error: :math:`|P1 - a|_1 + |P^\top 1 - b|_1` of the returned plan.
    """

    value: float
    converged: bool
    n_iters: int
    method: str
    epsilon: float = 0.0
    lower: float = math.nan
    upper: float = math.nan
    marginal_error: float = 0.0

    @property
    def rel_gap(self) -> float:
        """``(value - lower) / lower``: how far the certificate leaves the value uncertain."""
        return (self.value - self.lower) / self.lower if self.lower > 0 else math.inf


def check_clouds(x, y):
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"need (n, D) and (m, D) point clouds, got {x.shape} and {y.shape}")
    if x.shape[0] == 0 or y.shape[0] == 0:
        raise ValueError("W1 needs non-empty point clouds")
    for name, z in (("x", x), ("y", y)):
        bad = ~np.isfinite(np.asarray(z)).all(axis=1)
        if bad.any():
            raise FloatingPointError(
                f"W1: {int(bad.sum())} of {len(bad)} points of {name} are not finite "
                f"(first at row {int(np.argmax(bad))})"
            )
