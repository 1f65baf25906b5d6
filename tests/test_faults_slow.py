"""Faults across processes (slow): SIGKILL at a random step and resume; two copies of one sweep."""
import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest

from tests.helpers.sweeps import sweep_command, tiny_study
from tests.helpers.tiny import TINY_DATA

pytestmark = pytest.mark.slow

RUN = ["model=micro_L1_H32", "training.max_steps=40", "training.batch_size=8", "training.num_negatives=8",
       "training.checkpoint_every_n_steps=10", "eval.every_n_steps=10", "eval.repeats=1", "eval.pool_size=300",
       *TINY_DATA]  # dropout on and a DataLoader worker, as in a real run


def _train(tmp_path, name):
    env = {**os.environ, "DENSE_SCALING_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "dense_scaling.train", *RUN, f"hydra.run.dir={tmp_path / name}"]
    return command, env


def test_a_run_killed_at_a_random_step_resumes_to_the_same_results_and_log(tmp_path):
    command, env = _train(tmp_path, "whole")
    whole = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert whole.returncode == 0, whole.stdout[-2000:]
    command, env = _train(tmp_path, "killed")
    delay = random.uniform(0.0, 1.5)
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    checkpoint = tmp_path / "killed" / "checkpoints" / "last.ckpt"
    while not checkpoint.exists() and process.poll() is None:
        time.sleep(0.02)
    time.sleep(delay)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL, f"the run ended before the kill (delay {delay:.2f} s)"
    resumed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stdout[-2000:]
    first, second = (json.loads((tmp_path / name / "results.json").read_text()) for name in ("whole", "killed"))
    differing = [key for key in first if key not in ("wall_time_s", "device_seconds", "config") and first[key] != second[key]]
    assert differing == [], f"killed {delay:.2f} s after the first checkpoint"
    assert (tmp_path / "whole" / "logs" / "metrics.csv").read_text() == \
        (tmp_path / "killed" / "logs" / "metrics.csv").read_text()


def test_two_copies_of_one_sweep_train_every_run_once(tmp_path):
    name = tiny_study(tmp_path, "data_size_quick", {"data.num_train_pairs": "32,48,64,80"},
                      training={"max_steps": 12, "checkpoint_every_n_steps": 4}, eval={"every_n_steps": 4})
    command, env = sweep_command(tmp_path, name)
    copies = [subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True) for _ in range(2)]
    outputs = [copy.communicate(timeout=900)[0] for copy in copies]
    assert [copy.returncode for copy in copies] == [0, 0], outputs[0][-2000:] + outputs[1][-2000:]
    for out in outputs:  # each copy trained a run, or skipped it as held by the other copy or complete
        lines = out.splitlines()
        said = [l for l in lines if l.startswith(("results: ", "skipped: "))]
        assert len(said) == 4, out[-3000:]
    trained = [line for out in outputs for line in out.splitlines() if line.startswith("results: ")]
    assert len(trained) == 4 and len(set(trained)) == 4  # every run trained once, by one copy or the other
    root = tmp_path / "multirun" / name
    for D in (32, 48, 64, 80):
        folder = root / f"data.num_train_pairs={D}"
        results = json.loads((folder / "results.json").read_text())
        assert results["complete"] and results["D"] == D and results["steps"] == 12
        assert not (folder / "failed.json").exists() and not (folder / "checkpoints").exists()
        rows = (folder / "logs" / "metrics.csv").read_text().splitlines()
        assert len(rows) == len(set(rows))  # no row written twice
