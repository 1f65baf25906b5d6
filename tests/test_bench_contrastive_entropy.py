"""benchmarks/bench_contrastive_entropy.py end to end at a tiny size (the real sizes are for an idle machine)."""
from tests.helpers.benchmarks import run_benchmark


def test_bench_contrastive_entropy_times_drscale_ours_and_the_memory_floor(tmp_path):
    report, stdout = run_benchmark("bench_contrastive_entropy.py", tmp_path / "ce.json", "--pairs", "40",
                                   "--pool-size", "3000", "--dim", "32", "--negatives", "16", "--repeats", "2",
                                   "--blocks", "2", "--threads", "1")
    assert set(report["seconds"]) == {"ref", "same", "own", "floor"} and all(report["seconds"].values())
    assert report["ours_over_floor"] == report["seconds"]["same"] / report["seconds"]["floor"]
    assert report["max_abs_difference_same_negatives"] < 1e-5  # the same negatives give DRScale's values
    assert "memory floor" in stdout
