"""The rate app's evaluation (experiments.helpers.evaluation): frame coordinates, references, when
exact OT runs, the one translation of an estimate into a row.
"""

import json
import math

import pytest

from experiments.helpers import evaluation
from experiments.helpers.schemas.evaluators import BracketEvaluator
from experiments.helpers.schemas.rate import RunConfig


def test_frame_coordinates_keep_every_cost(key):
    """|x - y| is unchanged by (x F^T, |x - x F^T F|) when y lies in the frame's span."""
    import jax
    import numpy as np

    from idm import manifolds

    man = manifolds.get("sphere", d=2, D=50, key=key)
    x = man.sample(jax.random.fold_in(key, 1), 7) + 0.3 * jax.random.normal(
        jax.random.fold_in(key, 2), (7, 50)
    )
    y = man.sample(jax.random.fold_in(key, 3), 5)
    full = np.linalg.norm(np.asarray(x)[:, None] - np.asarray(y)[None], axis=-1)
    fx, fy = evaluation.frame_coordinates(man, x), evaluation.frame_coordinates(man, y)
    reduced = np.linalg.norm(fx[:, None] - fy[None], axis=-1)
    assert fx.shape == (7, 4)
    np.testing.assert_allclose(reduced, full, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    ("name", "d", "kind"),
    [("circle", 1, "grid"), ("sphere", 2, "grid"), ("sphere", 3, "iid"), ("torus", 2, "iid")],
)
def test_reference_lies_on_the_manifold(key, name, d, kind):
    import numpy as np

    from idm import manifolds

    man = manifolds.get(name, d=d, D=20, key=key)
    ref, used = evaluation.reference(man, key, 64, "grid")
    assert used == kind
    assert ref.shape == (64, 20)
    np.testing.assert_allclose(np.asarray(man.distance(ref)), 0, atol=1e-12)


def test_exact_problem_beside_the_matching_only_for_lumpy_laws():
    ev = BracketEvaluator(m_match=32768, m_exact=4096)
    assert evaluation.exact_mode(ev, 1024, discrete=False) == "auto"
    assert evaluation.exact_mode(ev, 2048, discrete=False) == "never"
    assert evaluation.exact_mode(ev, 4096, discrete=True) == "auto"  # the training set, whole
    assert evaluation.exact_mode(ev, 8192, discrete=True) == "never"
    assert evaluation.exact_mode(BracketEvaluator(m_match=0), 10**5, discrete=False) == "auto"
    # the circle has no matching (its monotone coupling is exact): the exact problem stays
    assert evaluation.exact_mode(ev, 10**5, discrete=False, circle=True) == "auto"
    always = BracketEvaluator(m_match=32768, exact_mode="always")
    assert evaluation.exact_mode(always, 10**5, discrete=False) == "always"


def test_row_fields_translate_each_estimate_once():
    """evaluation.row_fields: a semidiscrete row's error is one standard error (error / z, for
    any z), a plug-in row's the larger of the floor and Sinkhorn's half-width, a law row keeps
    its own error bar and writes its flags as 0/1 in w1_parts."""
    from idm.w1 import W1Estimate

    ev = RunConfig().evaluator
    floor = W1Estimate(0.05, 0.05, 0.05, 0.0, "exact", True)
    ref = evaluation.SeedReference(points=[[0.0, 1.0]] * 4, kind="grid",
                                   floor=floor)  # fmt: skip
    se = W1Estimate(0.3, 0.3 - 2.5 * 0.01, math.nan, 2.5 * 0.01, "semidiscrete", False, z=2.5,
                    diagnostics={"value_se": 0.001, "n_iters": 10, "epsilon": 0.0})  # fmt: skip
    row = evaluation.row_fields(se, evaluation.SeedReference(ref.points, "population", se), ev,
                                m=100)  # fmt: skip
    assert row["w1_error"] == pytest.approx(0.01)
    assert row["w1_kind"] == "semidiscrete"
    assert row["converged"]  # value_se within 0.5% of the value, for the row and its floor
    sk = W1Estimate(
        0.2, 0.1, 0.4, 0.15, "sinkhorn", True, diagnostics={"n_iters": 5, "epsilon": 0.01}
    )
    row = evaluation.row_fields(sk, ref, ev, m=100)
    assert (row["w1_error"], row["w1_kind"], row["n_iters"], row["epsilon"]) == (
        0.15,
        "plugin",
        5,
        0.01,
    )
    assert row["reference"] == "grid"
    assert row["w1_parts"] == ""
    parts = {"dual_lower": 0.1, "exact_optimal": True, "tangential": 0.05}
    lw = W1Estimate(0.2, 0.1, 0.3, 0.1, "bracket", True, z=2.0,
                    diagnostics={"parts": parts, "m": 64})  # fmt: skip
    row = evaluation.row_fields(lw, ref, ev, m=0)
    assert (row["w1_error"], row["m"], row["w1_tangential"]) == (0.1, 64, 0.05)
    assert json.loads(row["w1_parts"])["exact_optimal"] == 1.0
    assert '"exact_optimal": 1.0' in row["w1_parts"]
