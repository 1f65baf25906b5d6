"""Run a script of benchmarks/ at a tiny size, as its own process."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def run_benchmark(script: str, out: Path, *args: str) -> tuple[dict, str]:
    """The JSON report ``script`` writes to ``out`` with ``args``, and its stdout; fails the test on an error."""
    done = subprocess.run([sys.executable, str(BENCHMARKS / script), *args, "--out", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(out.read_text()), done.stdout
