"""benchmarks/bench_scale.py end to end at a tiny size (the real sizes are for an idle machine)."""
from tests.helpers.benchmarks import run_benchmark


def test_bench_scale_runs_both_runs_at_a_tiny_size(tmp_path):
    report, stdout = run_benchmark("bench_scale.py", tmp_path / "scale.json", "--passages", "2000",
                                   "--train-queries", "300", "--test-queries", "40", "--pool", "1000",
                                   "--subcorpus", "500", "--together", "2")
    assert report["token_cache_bytes"] > 0 and report["corpus_bytes"] > 2000 * 60 * 2
    for run in ("first_run", "second_run"):
        assert report[run]["passages"] == 2000 and report[run]["train_pairs"] == 300
        assert report[run]["memory_kib"]["VmHWM"] >= report[run]["memory_kib"]["RssAnon"] > 0
        assert set(report[run]["stages_s"]) >= {"read_data", "tokenizer_and_caches", "first_step", "ce_negatives"}
    assert "to first step" in stdout
    assert report["first_run"]["read_texts"] and not report["second_run"]["read_texts"]
    together = report["together"]
    assert len(together) == 2 and all(run["train_pairs"] == 300 for run in together)
    assert sorted(run["read_texts"] for run in together) == [False, True]  # one read, the other waited
    assert "together, run 2 of 2" in stdout
