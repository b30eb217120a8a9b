"""Numerical faults: a NaN or inf in the data or the samples stops the work naming where it
appeared; non-finite points never reach a W1 or a row.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import idm
from experiments.helpers import cells
from experiments.helpers import rows as rowlib
from idm import w1
from idm.samplers import NonFiniteSamples


def test_planted_nan_in_data_is_refused(key):
    data = jax.random.normal(key, (50, 3)).at[17, 1].set(jnp.nan)
    with pytest.raises(ValueError, match=r"1 rows with NaN or inf values \(first: row 17\)"):
        idm.sample(key, data, 8, d=1)


@pytest.mark.parametrize("solver", ["sde", "ode"])
def test_forced_overflow_names_the_step_and_time(key, solver):
    """float32 data at 1e19: |x|^2 overflows in the score; the sampler says where it broke."""
    data = 1e19 * jax.random.normal(key, (64, 5), jnp.float32)
    with pytest.raises(NonFiniteSamples, match=r"reverse step \d+ of 4 .*\(t = [\d.e-]+ -> "):
        idm.sample(key, data, 8, d=1, solver=solver, steps=4)


def test_forced_overflow_exact_solver(key):
    data = 1e19 * jax.random.normal(key, (64, 5), jnp.float32)
    with pytest.raises(NonFiniteSamples, match=r"final inertia step \(t = "):
        idm.sample(key, data, 8, d=1, solver="exact")
    # The check is the loudness, not a change of numbers: off, the NaN come back.
    x = idm.sample(key, data, 8, d=1, solver="exact", check_finite=False)
    assert not bool(jnp.all(jnp.isfinite(x)))


def test_finite_run_passes_the_check(key):
    data = jax.random.normal(key, (64, 5))
    assert bool(jnp.all(jnp.isfinite(idm.sample(key, data, 8, d=1, solver="sde", steps=4))))


def test_w1_refuses_non_finite_points(key):
    x = np.asarray(jax.random.normal(key, (20, 3)))
    y = x.copy()
    y[4, 0] = np.inf
    for method in ("exact", "sinkhorn"):
        with pytest.raises(ValueError, match="first at row 4"):
            w1.w1(x, y, method=method)


def test_rate_row_with_non_finite_value_is_not_written():
    fields = {f: 0.1 for f in rowlib.columns(rowlib.Row)}
    fields.update(experiment="t", manifold="circle", d=1, D=100, n=16, seed=0, method="idm")
    fields.update(evaluator="exact", reference="grid", converged=True, w1=math.nan)
    fields.update(w1_kind="plugin", evaluation="ambient", w1_parts="")
    row = rowlib.Row(**fields)
    with pytest.raises(cells.NonFiniteResult, match="non-finite w1 at method=idm n=16 seed=0"):
        cells.check_finite(row)
