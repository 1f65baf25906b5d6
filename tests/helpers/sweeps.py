"""Run a study of sweeps/ as a user would, at a tiny size, in a subprocess."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

SWEEPS = Path(__file__).resolve().parents[2] / "sweeps"
TINY_MODELS = "micro_L1_H32,micro_L2_H32,micro_L2_H64"
TINY = {
    "training": {"max_steps": 4, "num_workers": 0, "batch_size": 8, "num_negatives": 8, "checkpoint_every_n_steps": 2},
    "eval": {"every_n_steps": 2, "repeats": 1, "pool_size": 300},
    "data": {"num_train_pairs": 64, "reader": {"num_passages": 300, "num_test_passages": 60, "num_concepts": 60}},
}


def tiny_study(folder: Path, base: str, params: dict[str, str], name: str = "tiny", **sections: dict) -> str:
    """Write ``folder/<name>.yaml``: the study ``base`` of sweeps/ at tiny sizes, sweeping ``params``;
    ``sections`` (e.g. ``training={...}``) update the tiny settings."""
    settings = {key: {**value, **sections.get(key, {})} for key, value in TINY.items()}
    config = {"defaults": [base, "_self_"], "study": name, **settings, "hydra": {"sweeper": {"params": params}}}
    (folder / f"{name}.yaml").write_text(yaml.safe_dump(config))
    return name


def sweep_command(cwd: Path, config_name: str, *overrides: str) -> tuple[list[str], dict[str, str]]:
    """The command line and environment of ``python -m dense_scaling.train -m`` over the config in
    ``cwd`` (sweeps/ on the search path)."""
    env = {**os.environ, "DENSE_SCALING_CACHE": str(cwd / "cache"), "OMP_NUM_THREADS": "1", "WANDB_MODE": "offline"}
    command = [sys.executable, "-m", "dense_scaling.train", "-m", "--config-dir", str(cwd), "--config-name",
               config_name, f"hydra.searchpath=[file://{SWEEPS}]", *overrides]
    return command, env


def sweep(cwd: Path, config_name: str, *overrides: str, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run the sweep of :func:`sweep_command` to its end; fail the test unless it succeeds."""
    command, env = sweep_command(cwd, config_name, *overrides)
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done
