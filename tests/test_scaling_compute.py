"""Training FLOPs, the fallbacks for older results files, the compute-efficient runs, and the
compute-optimal frontier against a brute-force grid search."""

import numpy as np
import pytest

from dense_scaling.scaling.collect import RunRecord, collect
from dense_scaling.scaling.compute import FLOPS_FORMULA, TrainingProtocol, compute_optimum, flops_field, training_flops
from dense_scaling.scaling.laws import ChinchillaLaw, JointLaw
from dense_scaling.scaling.sweep import compute_efficient
from tests.helpers.results import write_result

RUN = {"N": 1000.0, "tokens": 2000.0, "steps": 10, "batch_size": 2, "num_negatives": 4, "layers": 2, "hidden": 8,
       "proj_dim": 4}
CONFIG = {"proj_dim": 4, "training": {"batch_size": 2, "num_negatives": 4},
          "model": {"arch": {"num_hidden_layers": 2, "hidden_size": 8}}, "trainer": {"devices": 2}}


def test_training_flops_are_encoder_projection_and_attention():
    sequences = 10 * (2 * 2 + 4)  # steps x (B queries + B positives + K negatives)
    encoder = 6 * 1000 * 2000
    projection = 6 * (8 + 1) * 4 * sequences
    attention = 12 * 2 * 8 * sequences * (2000 / sequences) ** 2  # 3 x (2 s^2 h for QK^T + 2 s^2 h for AV) per layer
    assert training_flops(**RUN) == pytest.approx(encoder + projection + attention, rel=1e-12)
    assert flops_field(**RUN) == {"train": training_flops(**RUN), "formula": FLOPS_FORMULA}


def test_the_mean_length_attention_term_never_exceeds_the_exact_one():
    lengths = np.array([8, 8, 30, 120, 120, 60])  # queries are short, passages long
    exact = 12 * 2 * 8 * np.sum(lengths ** 2)
    approximate = 12 * 2 * 8 * lengths.sum() ** 2 / lengths.size
    assert approximate < exact and approximate == pytest.approx(12 * 2 * 8 * lengths.size * lengths.mean() ** 2)


def test_older_results_get_flops_proj_dim_and_device_seconds_from_their_config(tmp_path):
    write_result(tmp_path / "old", 1000, 64, 2.0, replace={"tokens_seen": 2000, "steps": 10, "wall_time_s": 3.0,
                                                           "config": CONFIG})
    write_result(tmp_path / "new", 1000, 128, 1.9, replace={"tokens_seen": 2000, "steps": 10, "proj_dim": 16,
                                                            "flops": {"train": 12345.0, "formula": FLOPS_FORMULA},
                                                            "device_seconds": 7.5, "config": CONFIG})
    write_result(tmp_path / "bare", 1000, 256, 1.8, replace={"config": {"trainer": {"devices": "auto"}}})
    old, new, bare = sorted(collect([tmp_path])[0], key=lambda r: r.D)
    assert old.C == pytest.approx(training_flops(**RUN)) and old.proj_dim == 4 and old.device_seconds == 6.0
    assert (old.steps, old.batch_size, old.tokens_seen) == (10, 2, 2000)
    assert new.C == 12345.0 and new.proj_dim == 16 and new.device_seconds == 7.5
    assert bare.C is None and bare.proj_dim is None and bare.device_seconds is None


def _record(C, L, N=1e6):
    return RunRecord(path=f"run C={C} L={L}", N=N, D=1e3, L=L, C=C)


def test_compute_efficient_runs_are_the_best_run_of_each_compute_level_that_beats_every_cheaper_one():
    runs = [_record(1e12, 3.0), _record(1.005e12, 2.5), _record(2e12, 2.6), _record(4e12, 2.0), _record(8e12, 2.2),
            _record(1.6e13, 1.5), _record(None, 0.1)]
    assert [(r.C, r.L) for r in compute_efficient(runs)] == [(1.005e12, 2.5), (4e12, 2.0), (1.6e13, 1.5)]


def test_tokens_grow_with_D_only_beyond_the_pairs_a_run_sees():
    protocol = TrainingProtocol(steps=400, batch_size=32, tokens_per_pair=60.0)
    assert protocol.pairs_per_run == 12_800
    np.testing.assert_allclose(protocol.tokens([1000, 12_800, 25_600]), [60.0 * 12_800, 60.0 * 12_800, 60.0 * 25_600])
    assert protocol.flops(1e6, 25_600) == 6 * 1e6 * 60.0 * 25_600
    runs = [RunRecord(path=str(i), N=1e5, D=1e3, L=1.0, steps=400, batch_size=32, tokens_seen=400 * 32 * t)
            for i, t in enumerate((50.0, 60.0, 70.0))]
    assert TrainingProtocol.of_runs(runs) == protocol


def _grid_minimum(law, protocol, flops, log_N, log_D):
    """The lowest loss over a grid of (log N, log D) points that cost at most ``flops``."""
    N, D = np.exp(log_N), np.exp(log_D)
    feasible = np.where(protocol.flops(N, D) <= flops, law.predict(N, D), np.inf)
    i = np.unravel_index(np.argmin(feasible), feasible.shape)
    return feasible[i], log_N[i], log_D[i]


@pytest.mark.parametrize("law", [JointLaw(A=3.6e4, B=7.1e3, alpha=0.56, beta=1.31, d=0.03),
                                 ChinchillaLaw(A=60.0, B=40.0, E=0.3, alpha=0.35, beta=0.45)])
def test_the_compute_frontier_equals_a_brute_force_grid_search(law):
    """Brute force: a 600 x 600 grid over ten decades of N and D, then a 600 x 600 grid one
    decade wide around its best point; every point that costs at most C competes."""
    protocol = TrainingProtocol(steps=400, batch_size=32, tokens_per_pair=60.0)
    coarse = np.meshgrid(np.linspace(np.log(1e2), np.log(1e12), 600), np.linspace(np.log(1e2), np.log(1e12), 600))
    for flops in (1e13, 1e15, 1e17, 1e19):
        _, n0, d0 = _grid_minimum(law, protocol, flops, *coarse)
        fine = np.meshgrid(np.linspace(n0 - 1.15, n0 + 1.15, 600), np.linspace(d0 - 1.15, d0 + 1.15, 600))
        loss, log_N, log_D = _grid_minimum(law, protocol, flops, *fine)
        best = compute_optimum(law, protocol, flops)
        assert best.loss <= loss * (1 + 1e-9)  # never worse than any grid point within budget
        assert best.loss == pytest.approx(loss, rel=3e-3)  # grid points stop up to a step (0.004 in log) short of C
        assert np.log(best.N) == pytest.approx(log_N, abs=0.05) and np.log(best.D) == pytest.approx(log_D, abs=0.05)
        assert float(protocol.flops(best.N, best.D)) == pytest.approx(flops, rel=1e-9)  # it spends the budget
        assert best.N_band[0] < best.N < best.N_band[1]
