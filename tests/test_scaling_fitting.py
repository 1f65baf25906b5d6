"""Fitting recovers known laws; CIs cover them; bad input is refused clearly."""

import numpy as np
import pytest

from dense_scaling.scaling.errors import ScalingInputError
from dense_scaling.scaling.fitting import bootstrap, fit_law, holdout, sigma_from_ci95
from dense_scaling.scaling.laws import DataSizeLaw, JointLaw, ModelSizeLaw

MODEL = ModelSizeLaw(A=3.22e4, alpha=0.53, d_N=0.04)
DATA = DataSizeLaw(B=3.49e3, beta=1.05, d_D=0.2)
JOINT = JointLaw(A=3.6e4, B=7.1e3, alpha=0.56, beta=1.31, d=0.03)
N_GRID = np.geomspace(4e5, 9e7, 12)
D_GRID = np.geomspace(1e3, 5e5, 12)


def noisy(values, seed, noise=0.01):
    """Multiplicative 1% noise, seeded."""
    return values * np.exp(np.random.default_rng(seed).normal(0.0, noise, np.shape(values)))


def assert_close_to(law, truth, rtol):
    for name, value in truth.params().items():
        assert law.params()[name] == pytest.approx(value, rel=rtol[name]), name


def test_robust_fit_recovers_the_model_size_law():
    result = fit_law(ModelSizeLaw, noisy(MODEL.predict(N_GRID), seed=1), N=N_GRID)
    assert_close_to(result.law, MODEL, {"A": 0.25, "alpha": 0.05, "d_N": 0.08})
    assert result.converged and result.convergence.n_at_best >= 2 and result.r2 > 0.999


def test_robust_fit_recovers_the_data_size_law():
    result = fit_law(DataSizeLaw, noisy(DATA.predict(D_GRID), seed=2), D=D_GRID)
    assert_close_to(result.law, DATA, {"B": 0.1, "beta": 0.05, "d_D": 0.05})
    assert result.converged


def test_robust_fit_recovers_the_joint_law():
    N, D = (g.ravel() for g in np.meshgrid(N_GRID[::3], D_GRID[::3]))
    result = fit_law(JointLaw, noisy(JOINT.predict(N, D), seed=3), N=N, D=D)
    assert_close_to(result.law, JOINT, {"A": 0.3, "B": 0.05, "alpha": 0.08, "beta": 0.03, "d": 0.15})
    assert result.converged


def test_single_start_least_squares_fails_where_the_multi_start_robust_fit_does_not():
    L = noisy(MODEL.predict(N_GRID), seed=4)
    lsq = fit_law(ModelSizeLaw, L, N=N_GRID, method="lsq")  # curve_fit's default start: every parameter 1
    robust = fit_law(ModelSizeLaw, L, N=N_GRID)
    assert lsq.r2 < 0.5 and abs(lsq.law.alpha - MODEL.alpha) > 1.0
    assert robust.r2 > 0.999 and robust.law.alpha == pytest.approx(MODEL.alpha, abs=0.03)
    started_well = fit_law(ModelSizeLaw, L, N=N_GRID, method="lsq", p0=MODEL)
    assert started_well.r2 > 0.999 and started_well.law.alpha == pytest.approx(MODEL.alpha, abs=0.03)


def test_bootstrap_intervals_cover_the_true_parameters():
    L = noisy(MODEL.predict(N_GRID), seed=5)
    result = bootstrap(fit_law(ModelSizeLaw, L, N=N_GRID), L, N=N_GRID, n_boot=60, seed=0)
    assert result.n_bootstrap + result.n_bootstrap_failed == 60 and result.n_bootstrap >= 50
    for name, value in MODEL.params().items():
        low, high = result.ci95[name]
        assert low <= value <= high, (name, low, value, high)
        assert low <= result.law.params()[name] <= high


def test_holdout_predicts_the_largest_model_from_the_smaller_ones():
    L = noisy(MODEL.predict(N_GRID), seed=6)
    result = holdout(fit_law(ModelSizeLaw, L, N=N_GRID), L, N=N_GRID)
    check = result.heldout
    assert check.axis == "N" and check.held_out_value == N_GRID.max() and check.n_fit == N_GRID.size - 1
    assert check.predicted[0] == pytest.approx(float(check.law.predict(N_GRID.max())))
    assert check.mean_relative_error < 0.03


def test_weights_from_confidence_intervals_discount_a_noisy_point():
    L = MODEL.predict(N_GRID)
    L[0] *= 1.3  # one run far off, with a wide interval
    sigma = np.full(N_GRID.size, sigma_from_ci95((0.99, 1.01)))
    sigma[0] = sigma_from_ci95((0.0, 2.0))
    weighted = fit_law(ModelSizeLaw, L, N=N_GRID, sigma=sigma, method="lsq", p0=MODEL)
    unweighted = fit_law(ModelSizeLaw, L, N=N_GRID, method="lsq", p0=MODEL)
    assert weighted.weighted and not unweighted.weighted
    assert abs(weighted.law.alpha - MODEL.alpha) < 0.01 < abs(unweighted.law.alpha - MODEL.alpha)


@pytest.mark.parametrize("kwargs, message", [
    ({"L": [1.0, 0.9], "N": [1e6, 2e6]}, "has 3 parameters .* only 2 points"),
    ({"L": [1.0, 0.9, 0.8, 0.7], "N": [1e6] * 4}, "same N = 1e.06.*did you mean --law data"),
    ({"L": [1.0, 0.9, 0.8, 0.7], "N": [1e6, 0, 3e6, 4e6]}, "N must be positive .* point 1 has N = 0.0"),
    ({"L": [1.0, -0.9, 0.8, 0.7], "N": [1e6, 2e6, 3e6, 4e6]}, "L must be positive"),
    ({"L": [1.0, 0.9, 0.8], "D": [1e3, 2e3, 3e3]}, "needs N for every point"),
])
def test_bad_input_is_refused_with_a_message_naming_it(kwargs, message):
    with pytest.raises(ScalingInputError, match=message):
        fit_law(ModelSizeLaw, **kwargs)


def test_joint_fit_needs_two_model_sizes():
    with pytest.raises(ScalingInputError, match="same N"):
        fit_law(JointLaw, [1.0, 0.9, 0.8, 0.7, 0.6], N=[1e6] * 5, D=[1e3, 2e3, 3e3, 4e3, 5e3])
