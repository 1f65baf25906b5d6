"""The three laws: values, limits, and the log-space form the fitter uses."""

import numpy as np
import pytest
from scipy.optimize import approx_fprime

from dense_scaling.scaling.laws import (JOINT_FORMS, LAWS, ChinchillaLaw, ComputeLaw, DataSizeLaw, DimensionLaw,
                                       JointLaw, ModelSizeLaw)

JOINT = JointLaw(A=3.6e4, B=7.1e3, alpha=0.56, beta=1.31, d=0.03)


def test_predict_matches_the_paper_equations():
    assert ModelSizeLaw(A=100.0, alpha=0.5, d_N=0.1).predict(25.0) == pytest.approx(2.0 + 0.1)
    assert DataSizeLaw(B=8.0, beta=1 / 3, d_D=0.2).predict(1.0) == pytest.approx(2.0 + 0.2)
    law = JointLaw(A=16.0, B=3.0, alpha=1.0, beta=2.0, d=0.5)
    assert law.predict(1.0, 3.0) == pytest.approx((16.0 ** 0.5 + 1.0) ** 2 + 0.5)
    chinchilla = ChinchillaLaw(A=4.0, B=9.0, E=0.5, alpha=0.5, beta=0.5)
    assert chinchilla.predict(16.0, 9.0) == pytest.approx(0.5 + 1.0 + 3.0)
    assert ComputeLaw(C0=1e12, gamma=0.5, d_C=0.3).predict(1e10) == pytest.approx(10.0 + 0.3)
    assert DimensionLaw(C=64.0, gamma=1.0, delta_d=1.0).predict(32) == pytest.approx(3.0)
    assert DimensionLaw(C=64.0, gamma=1.0, delta_d=1.0).formula() == "L(proj_dim) = (64 / proj_dim)^1 + 1"


def test_joint_law_reduces_to_the_single_laws_in_its_limits():
    N = np.geomspace(1e5, 1e9, 5)
    model = ModelSizeLaw(A=JOINT.A, alpha=JOINT.alpha, d_N=JOINT.d)
    np.testing.assert_allclose(JOINT.predict(N, 1e300), model.predict(N), rtol=1e-12)
    D = np.geomspace(1e3, 1e7, 5)
    data = DataSizeLaw(B=JOINT.B, beta=JOINT.beta, d_D=JOINT.d)
    np.testing.assert_allclose(JOINT.predict(1e300, D), data.predict(D), rtol=1e-12)


def test_formula_shows_six_significant_digits_and_params_are_exact():
    law = ModelSizeLaw(A=32215.123, alpha=0.5312344, d_N=0.0401)
    assert law.formula() == "L(N) = (32215.1 / N)^0.531234 + 0.0401"
    assert LAWS["joint"] is JointLaw and JOINT.params() == {"A": 3.6e4, "B": 7.1e3, "alpha": 0.56, "beta": 1.31, "d": 0.03}
    assert JOINT_FORMS == {"paper": JointLaw, "chinchilla": ChinchillaLaw} and ChinchillaLaw.kind == "joint"
    assert ChinchillaLaw(482.0, 2085.4, 1.817, 0.348, 0.366).formula() == (
        "L(N, D) = 1.817 + 482 / N^0.348 + 2085.4 / D^0.366")


@pytest.mark.parametrize("law", [ModelSizeLaw(3.2e4, 0.53, 0.04), DataSizeLaw(7.1e3, 1.05, 0.2), JOINT,
                                 ChinchillaLaw(482.0, 2085.4, 1.817, 0.348, 0.366), ComputeLaw(4e11, 0.78, 0.35),
                                 DimensionLaw(20.0, 0.6, 0.8)])
def test_log_predict_and_its_jacobian_agree_with_predict(law):
    rng = np.random.default_rng(0)
    inputs = {"N": rng.uniform(1e5, 1e8, 6), "D": rng.uniform(1e3, 1e6, 6), "C": rng.uniform(1e10, 1e14, 6),
              "proj_dim": rng.uniform(16, 768, 6)}
    log_inputs = tuple(np.log(inputs[name]) for name in law.inputs)
    theta = np.array([v if k in law.exponent_names else np.log(v) for k, v in law.params().items()])
    rebuilt = type(law).from_theta(theta).params()
    assert rebuilt == pytest.approx(law.params(), rel=1e-12)
    log_L, jac = law.log_predict(theta, log_inputs)
    np.testing.assert_allclose(np.exp(log_L), law.predict(*(inputs[n] for n in law.inputs)), rtol=1e-12)
    numeric = np.stack([approx_fprime(theta, lambda t, i=i: law.log_predict(t, log_inputs)[0][i], 1e-7)
                        for i in range(6)])
    np.testing.assert_allclose(jac, numeric, atol=1e-5)
