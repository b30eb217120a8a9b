"""fit_rate and local_slopes on synthetic power laws with a planted exponent."""

import math

import numpy as np
import pytest

from experiments.helpers.inclusion import above_floor
from idm.rates import fit_rate, local_slopes, reference_exponent, two_term_fit

NS = 2.0 ** np.arange(7, 14)  # the CPU default grid, 2^7 .. 2^13


def _power_law(rng, exponent, *, seeds, noise, c=0.7, ns=NS):
    """errors = c n^exponent * lognormal(0, noise), shape (len(ns), seeds)."""
    return c * ns[:, None] ** exponent * np.exp(noise * rng.standard_normal((len(ns), seeds)))


def test_recovers_planted_exponent_within_interval():
    rng = np.random.default_rng(0)
    fit = fit_rate(NS, _power_law(rng, -0.4, seeds=5, noise=0.1))
    assert fit.ci[0] <= -0.4 <= fit.ci[1]
    assert fit.ci[0] < fit.exponent < fit.ci[1]
    assert fit.interval == "bootstrap-seeds-t"
    assert fit.n_seeds == 5
    assert fit.ns_used == tuple(int(n) for n in NS)
    assert fit.dropped == ()
    # The intercept is log c up to the log-mean of the lognormal noise (sd 0.1 / sqrt(5) per n).
    np.testing.assert_allclose(fit.intercept, math.log(0.7), atol=0.1)


def test_noise_free_fit_is_exact():
    fit = fit_rate(NS, 3.0 * NS**-0.25)
    np.testing.assert_allclose(fit.exponent, -0.25, rtol=0, atol=1e-12)
    np.testing.assert_allclose(fit.intercept, math.log(3.0), rtol=0, atol=1e-12)
    np.testing.assert_allclose(fit.predict(1000.0), 3.0 * 1000.0**-0.25, rtol=1e-12)


@pytest.mark.slow
@pytest.mark.parametrize(("seeds", "noise"), [(5, 0.2), (3, 0.1), (1, 0.2)])
def test_interval_coverage_is_nominal(seeds, noise):
    """Over 200 independent data sets the 95% interval covers the planted exponent.

    The coverage count is Binomial(200, 0.95) under a calibrated interval: mean 190, standard
    deviation 3.1. Accept 180..200 (a bit over 3 standard deviations below; any upper value,
    since slight over-coverage is harmless). The plain percentile bootstrap gives about 167 at
    5 seeds and fails this.
    """
    rng = np.random.default_rng(seeds)
    repeats, exponent = 200, -2 / 3
    hits = 0
    for r in range(repeats):
        fit = fit_rate(NS, _power_law(rng, exponent, seeds=seeds, noise=noise), n_boot=500, seed=r)
        hits += fit.ci[0] <= exponent <= fit.ci[1]
    assert 180 <= hits <= repeats


def test_one_seed_uses_ols_t_interval():
    rng = np.random.default_rng(1)
    errors = _power_law(rng, -0.5, seeds=1, noise=0.05)[:, 0]
    fit = fit_rate(NS, errors)
    assert fit.interval == "ols-t"
    assert fit.n_boot == 0
    assert fit.ci[0] <= -0.5 <= fit.ci[1]
    # Two points and one seed: a line through them, no interval.
    fit2 = fit_rate(NS[:2], errors[:2])
    assert math.isnan(fit2.ci[0])
    assert math.isnan(fit2.ci[1])


def test_bootstrap_is_deterministic_given_seed():
    errors = _power_law(np.random.default_rng(2), -0.4, seeds=4, noise=0.2)
    assert fit_rate(NS, errors, seed=7) == fit_rate(NS, errors, seed=7)
    assert fit_rate(NS, errors, seed=7).ci != fit_rate(NS, errors, seed=8).ci


def test_floor_points_are_dropped_and_recorded():
    rng = np.random.default_rng(3)
    clean = _power_law(rng, -0.5, seeds=5, noise=0.05)
    floor = 0.7 * (2.0**12) ** -0.5 / 1.5  # the two largest n sit within 2x of it
    errors = np.sqrt(clean**2 + floor**2)  # a floor that flattens the curve
    keep = above_floor(errors, np.full((len(NS), 5), floor), 2.0)
    fit = fit_rate(NS, errors, keep=keep)
    assert fit.dropped == (4096, 8192)
    assert fit.ns_used == (128, 256, 512, 1024, 2048)
    assert fit.ci[0] - 0.05 <= -0.5 <= fit.ci[1] + 0.05
    # Without the floor rule the flattened points bias the exponent upwards.
    assert fit_rate(NS, errors).exponent > fit.exponent
    # A per-n floor and a per-seed floor act alike; the input order does not matter.
    perm = np.random.default_rng(4).permutation(len(NS))
    fit_perm = fit_rate(
        NS[perm], errors[perm], keep=above_floor(errors[perm], np.full(len(NS), floor), 2.0)
    )
    assert fit_perm.ns_used == fit.ns_used
    np.testing.assert_allclose(fit_perm.exponent, fit.exponent, rtol=1e-12)
    with pytest.raises(ValueError, match="fewer than two points kept"):
        fit_rate(NS, errors, keep=above_floor(errors, np.ones(len(NS)), 2.0))
    with pytest.raises(ValueError, match="boolean mask"):
        fit_rate(NS, errors, keep=np.ones(len(NS)))


def test_local_slopes_split_the_kept_range():
    # A curve whose local slope steepens from -0.8 towards -0.4: err = n^-0.4 + 8 n^-0.8.
    errors = NS**-0.4 + 8 * NS**-0.8
    ls = local_slopes(NS, errors)
    assert ls.lower.ns_used == (128, 256, 512, 1024)
    assert ls.upper.ns_used == (1024, 2048, 4096, 8192)
    assert ls.lower.exponent < ls.upper.exponent < -0.4
    assert abs(ls.upper.exponent + 0.4) < abs(ls.lower.exponent + 0.4)
    # With a floor the halves split what is kept.
    ls_floor = local_slopes(NS, errors, keep=NS < NS[-1])
    assert ls_floor.upper.ns_used[-1] == 4096
    assert set(ls_floor.to_dict()) == {"lower", "upper"}


def test_to_dict_is_json_ready():
    import json

    fit = fit_rate(NS, _power_law(np.random.default_rng(5), -0.3, seeds=2, noise=0.1))
    d = json.loads(json.dumps(fit.to_dict()))
    assert d["ns_used"] == [int(n) for n in NS]
    assert len(d["ci"]) == 2


@pytest.mark.parametrize(
    ("ns", "errors", "match"),
    [
        (NS[:, None], NS, "one-dimensional"),
        (NS, np.ones((3, 2)), "shape"),
        (NS, -np.ones(len(NS)), "positive"),
        (NS, np.full(len(NS), np.nan), "finite"),
        (np.ones(len(NS)), np.ones(len(NS)), "distinct"),
    ],
)
def test_validation_messages(ns, errors, match):
    with pytest.raises(ValueError, match=match):
        fit_rate(ns, errors)


def test_reference_exponent_is_one_function_for_every_method():
    assert reference_exponent("idm", 1) == pytest.approx(-0.4)
    assert reference_exponent("idm", 2) == pytest.approx(-1 / 3)
    assert reference_exponent("train", 1) == reference_exponent("dm", 2) == -0.5
    assert reference_exponent("train", 4) == -0.25
    assert reference_exponent("kde", 2) is None
    assert reference_exponent("early_stop", 2) is None
    import experiments.helpers.fits as fits
    import idm.rates as rates

    # One definition: the fit table and the figures use the library's, none of their own.
    assert not hasattr(rates, "predicted_exponent")
    assert fits.reference_exponent is rates.reference_exponent


@pytest.mark.parametrize("d", [1, 3, 6])
def test_two_term_fit_recovers_planted_coefficients(d):
    """err = 0.7 n^(-2/(d+4)) + 2 n^(-1/2): the fit returns both, with no residual."""
    ns = np.array([1e3, 3e3, 1e4, 3e4, 1e5])
    err = 0.7 * ns ** reference_exponent("idm", d) + 2.0 * ns**-0.5
    fit = two_term_fit(ns, np.stack([err, err], axis=1), d)
    assert fit.a == pytest.approx(0.7, rel=1e-9)
    assert fit.b == pytest.approx(2.0, rel=1e-9)
    assert fit.residual < 1e-12
    # the parametric part fades: the first term's share grows with n
    assert list(fit.share_first) == sorted(fit.share_first)


def test_two_term_fit_needs_three_sizes():
    with pytest.raises(ValueError, match="at least 3 sizes"):
        two_term_fit([1e3, 1e4], [0.1, 0.05], 2)
