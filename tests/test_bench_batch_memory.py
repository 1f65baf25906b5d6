"""benchmarks/bench_batch_memory.py end to end at a tiny size (the real size is for an idle machine)."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_batch_memory.py"


def test_the_variants_take_the_same_first_step_and_reports_its_memory(tmp_path):
    out = tmp_path / "memory.json"
    done = subprocess.run([sys.executable, str(SCRIPT), "--model", "micro_L1_H32", "--batch", "4", "--negatives", "4",
                           "--query-length", "8", "--passage-length", "16", "--chunk", "3", "--vocab", "100",
                           "--steps", "2", "--rounds", "1", "--variants", "plain,both", "--out", str(out)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.read_text())
    rows = report["variants"]
    assert set(rows) == {"plain", "both"} and report["memory"] == "RSS (VmHWM)"
    for row in rows.values():
        assert row["loss"] == pytest.approx(rows["plain"]["loss"], rel=1e-5)
        assert row["grad_norm"] == pytest.approx(rows["plain"]["grad_norm"], rel=1e-5)
        assert row["peak_mib"] >= row["step_mib"] >= 0 and row["step_s"] > 0
    assert "both" in done.stdout and "peak RSS" in done.stdout
