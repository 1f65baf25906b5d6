"""benchmarks/bench_evaluation.py end to end at a tiny size (slow: evaluate runs as 1 and as 2 processes)."""
import pytest

from tests.helpers.benchmarks import run_benchmark
from tests.helpers.paths import SHARED_DATA


@pytest.mark.slow
@pytest.mark.skipif(not (SHARED_DATA / "vocab").is_dir(), reason="needs the BERT vocab of ../shared/data")
def test_bench_evaluation_runs_one_and_two_processes_at_a_tiny_size(tmp_path):
    report, stdout = run_benchmark("bench_evaluation.py", tmp_path / "evaluation.json", "--passages", "600",
                                   "--train-queries", "20", "--test-queries", "30", "--pool", "300", "--subcorpus", "200",
                                   "--negatives", "16", "--repeats", "2", "--max-passage-length", "32",
                                   "--model", "micro_L1_H32")
    rows = report["rows"]
    assert [row["processes"] for row in rows] == [1, 2]
    assert rows[1]["ce"] == pytest.approx(rows[0]["ce"], abs=1e-6)  # sharded, the same CE
    for row in rows:
        assert row["process_s"] > row["evaluate_s"] > 0 and row["peak_rss_mib"] > 0
    assert "peak RSS" in stdout
