"""benchmarks/bench_scale.py end to end at a tiny size (the real sizes are for an idle machine)."""
import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_scale.py"


def test_bench_scale_runs_both_runs_at_a_tiny_size(tmp_path):
    out = tmp_path / "scale.json"
    done = subprocess.run([sys.executable, str(SCRIPT), "--passages", "2000", "--train-queries", "300",
                           "--test-queries", "40", "--pool", "1000", "--subcorpus", "500", "--out", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["token_cache_bytes"] > 0 and report["corpus_bytes"] > 2000 * 60 * 2
    for run in ("first_run", "second_run"):
        assert report[run]["passages"] == 2000 and report[run]["train_pairs"] == 300
        assert report[run]["memory_kib"]["VmHWM"] >= report[run]["memory_kib"]["RssAnon"] > 0
        assert set(report[run]["stages_s"]) >= {"read_data", "tokenizer_and_caches", "first_step", "ce_negatives"}
    assert "to first step" in done.stdout
