"""benchmarks/bench_eval_sharding.py end to end at a tiny size (the real size is for an idle machine)."""
from tests.helpers.benchmarks import run_benchmark


def test_bench_eval_sharding_times_one_and_two_processes_at_a_tiny_size(tmp_path):
    report, stdout = run_benchmark("bench_eval_sharding.py", tmp_path / "sharding.json", "--passages", "300",
                                   "--model", "micro_L1_H32", "--batch-size", "32", "--max-length", "32")
    assert report["identical"] and report["passages"] == 300
    assert len(report["seconds_1_process"]) == len(report["seconds_2_processes"]) == 1
    assert report["speedup"] == report["seconds_1_process"][0] / report["seconds_2_processes"][0]
    assert "speed-up" in stdout
