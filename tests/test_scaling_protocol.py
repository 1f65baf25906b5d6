"""Protocol warnings: each fires where it applies, says what to change, and stays quiet otherwise."""

from dense_scaling.scaling.collect import RunRecord
from dense_scaling.scaling.laws import DataSizeLaw, JointLaw
from dense_scaling.scaling.protocol import fit_warnings, run_warnings, step_limited, still_improving


def _run(D, L=2.0, ci=None, steps=400, reported=300, last=400, N=1e5, study="s"):
    return RunRecord(path=f"D{D}", N=N, D=D, L=L, L_ci95=ci, model="m", study=study, steps=steps, batch_size=32,
                     reported_step=reported, last_eval_step=last)


def test_a_run_with_more_pairs_than_it_saw_is_step_limited():
    runs = [_run(8000), _run(12800), _run(16000)]
    assert [r.D for r in step_limited(runs)] == [16000]
    (warning,) = run_warnings(runs)
    assert "study s: 1 run(s)" in warning and "D = 16000 > 400 steps x 32 = 12800 pairs" in warning
    assert "step-limited" in warning and "train at least 500 steps" in warning


def test_a_run_reported_at_its_last_evaluation_was_still_improving():
    runs = [_run(1000, reported=400), _run(2000, reported=350, last=350), _run(4000, reported=300)]
    assert [r.D for r in still_improving(runs)] == [1000, 2000]
    (warning,) = run_warnings(runs)
    assert "2 of 3 run(s) reported their CE at their last evaluation" in warning
    assert "still improving" in warning and "train longer (training.max_steps)" in warning


def test_overlapping_neighbours_and_too_few_points_are_warned_per_fit():
    runs = [_run(1000, 3.0, (2.9, 3.1)), _run(2000, 2.95, (2.85, 3.05)), _run(4000, 2.5, (2.45, 2.55))]
    overlap, few = fit_warnings("data-size fit for x", DataSizeLaw, runs)
    assert "1 pair(s) of neighbouring points have overlapping CE intervals" in overlap
    assert "D=1000 [2.9, 3.1] and D=2000 [2.85, 3.05]" in overlap and "space the sizes further apart" in overlap
    assert "3 points for 3 parameters (fewer than parameters + 2)" in few and "add runs" in few


def test_clean_runs_raise_no_warning():
    runs = [_run(D, L, (L - 0.02, L + 0.02)) for D, L in ((1000, 3.0), (2000, 2.6), (4000, 2.3), (8000, 2.1),
                                                          (12000, 2.0))]
    assert run_warnings(runs) == [] and fit_warnings("fit", DataSizeLaw, runs) == []


def test_joint_fits_compare_neighbours_along_each_axis_with_the_other_fixed():
    """Two model sizes whose CEs overlap at every D, while the D steps are far apart."""
    grid = [_run(D, L + shift, (L + shift - 0.05, L + shift + 0.05), N=N)
            for N, shift in ((1e5, 0.0), (1e6, -0.02)) for D, L in ((1000, 3.0), (4000, 2.5), (16000, 2.0))]
    overlap, few = fit_warnings("joint fit", JointLaw, grid)
    assert overlap.startswith("joint fit: 3 pair(s)") and "N=100000" in overlap and "N=1e+06" in overlap
    assert "6 points for 5 parameters" in few
