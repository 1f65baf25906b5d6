"""--form compare: each joint form fitted to the same runs; the verdict names the generating form."""

import numpy as np
import pytest

from dense_scaling.scaling.collect import RunRecord
from dense_scaling.scaling.compare import compare_forms
from dense_scaling.scaling.laws import ChinchillaLaw, JointLaw
from dense_scaling.scaling.sweep import fit_sweep

GENERATORS = {"paper": JointLaw(A=3.6e4, B=7.1e3, alpha=0.56, beta=1.31, d=0.03),
              "chinchilla": ChinchillaLaw(A=60.0, B=40.0, E=0.3, alpha=0.35, beta=0.45)}


def _runs(law, seed):
    """4 N x 4 D from ``law`` with 1% log-normal noise."""
    rng = np.random.default_rng(seed)
    return [RunRecord(path=f"{N:g}-{D:g}", N=N, D=D, L=float(law.predict(N, D)) * float(np.exp(rng.normal(0, 0.01))),
                      data="synthetic", annotation="human")
            for N in np.geomspace(1e5, 1e8, 4) for D in np.geomspace(1e3, 1e6, 4)]


@pytest.mark.parametrize("generating", sorted(GENERATORS))
def test_compare_picks_the_form_that_generated_the_runs(generating):
    sweep = fit_sweep(_runs(GENERATORS[generating], seed=1), law="joint", form="compare")
    assert sorted(f.form for f in sweep.fits) == ["chinchilla", "paper"]
    for fit in sweep.fits:  # both held-out checks for each form
        assert [h.axis for h in fit.result.heldouts] == ["N", "D"]
        assert [h.held_out_value for h in fit.result.heldouts] == [1e8, 1e6]
    (comparison,) = compare_forms(sweep.fits)
    assert comparison.best == generating and f"the {generating} form extrapolates best" in comparison.verdict
    scores = {s.form: s for s in comparison.scores}
    other = next(form for form in GENERATORS if form != generating)
    assert scores[generating].heldout_mean < scores[other].heldout_mean
    assert scores[generating].aic < scores[other].aic and scores[generating].r2 > 0.999
    assert scores[generating].heldout_mean == pytest.approx(
        np.mean([scores[generating].heldout_N, scores[generating].heldout_D]))


def test_a_single_form_is_not_compared():
    sweep = fit_sweep(_runs(GENERATORS["paper"], seed=2), law="joint", form="chinchilla")
    assert [f.form for f in sweep.fits] == ["chinchilla"] and compare_forms(sweep.fits) == []
    assert sweep.fits[0].label == "synthetic/human [chinchilla form]"
