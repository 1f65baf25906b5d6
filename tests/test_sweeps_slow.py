"""Quick studies end to end at a tiny size (slow): sweep -> results -> fit; the submitit launcher."""
import json
import signal
import subprocess
import sys
import time

import pytest
import torch
import yaml

from dense_scaling.fit import main as fit_main
from dense_scaling.scaling import collect
from tests.helpers.paths import shared_dataset
from tests.helpers.sweeps import TINY, TINY_MODELS as MODELS, sweep, sweep_command, tiny_study

pytestmark = pytest.mark.slow


def test_joint_quick_sweep_collects_and_fits_with_a_holdout(joint_sweep):
    records, skipped = collect([joint_sweep])
    assert not skipped and len(records) == 9
    assert {r.D for r in records} == {64, 128, 256} and len({r.N for r in records}) == 3
    assert {r.proj_dim for r in records} == {768} and all(r.C > 6 * r.N * r.tokens_seen for r in records)
    assert {r.study for r in records} == {"tiny"}
    out = joint_sweep / "fit"
    assert fit_main([str(joint_sweep), "--law", "joint", "--holdout", "--bootstrap", "5"]) == 0
    params = json.loads((out / "params.json").read_text())
    (joint,) = params["fits"]
    assert joint["law"] == "joint" and joint["n_points"] == 9
    assert joint["heldout"]["n_held_out"] == 3 and joint["heldout"]["held_out_value"] == max(r.N for r in records)
    assert (out / "report.md").exists() and list(out.glob("joint_*.png"))


@pytest.mark.parametrize("study,params,law", [
    ("model_size_quick", {"model": MODELS}, "model"),
    ("data_size_quick", {"data.num_train_pairs": "64,128,256"}, "data"),
    ("dimension_quick", {"proj_dim": "16,32,64"}, "dimension"),
])
def test_one_dimensional_quick_studies_fit(tmp_path, study, params, law):
    name = tiny_study(tmp_path, study, params)
    sweep(tmp_path, name)
    assert fit_main([str(tmp_path / "multirun" / name), "--law", law, "--bootstrap", "0"]) == 0
    (fit,) = json.loads((tmp_path / "multirun" / name / "fit" / "params.json").read_text())["fits"]
    assert fit["law"] == law and fit["n_points"] == 3


def test_submitit_local_launcher_runs_a_two_job_sweep(tmp_path):
    name = tiny_study(tmp_path, "data_size_quick", {"data.num_train_pairs": "64,128"})
    done = sweep(tmp_path, name, "hydra/launcher=local")
    root = tmp_path / "multirun" / name
    for D in (64, 128):
        results = json.loads((root / f"data.num_train_pairs={D}" / "results.json").read_text())
        assert results["complete"] and results["D"] == D
    assert len(list((root / ".submitit").glob("*/*_result.pkl"))) == 2  # each run was its own submitit job
    assert "no failed runs (2 with results)" in done.stdout


def test_a_terminated_sweep_stops_and_running_it_again_resumes(tmp_path):
    """SIGTERM (Ctrl-C, a SLURM preemption or time limit) stops the whole sweep, not just the run
    in progress, and is not recorded as a failure; the same command resumes from the checkpoint."""
    name = tiny_study(tmp_path, "data_size_quick", {"data.num_train_pairs": "64,128"},
                      training={"max_steps": 40, "checkpoint_every_n_steps": 5}, eval={"every_n_steps": 20})
    command, env = sweep_command(tmp_path, name)
    first, second = (tmp_path / "multirun" / name / f"data.num_train_pairs={d}" for d in (64, 128))
    process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not (first / "checkpoints" / "last.ckpt").exists():
        assert process.poll() is None and time.monotonic() < deadline, "the first run never checkpointed"
        time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=120) == 128 + signal.SIGTERM
    assert not (first / "results.json").exists() and not (first / "failed.json").exists()
    assert not second.exists()  # the sweep did not go on to the next run
    checkpointed_step = torch.load(first / "checkpoints" / "last.ckpt", weights_only=False)["global_step"]
    assert 0 < checkpointed_step < 40

    done = sweep(tmp_path, name)
    assert "Restoring states from the checkpoint" in done.stdout + done.stderr
    results = json.loads((first / "results.json").read_text())
    assert results["steps"] == 40 and (second / "results.json").exists()
    assert [step for step, _ in results["ce"]["history"]] == [20, 40]


def test_annotation_quick_sweeps_human_and_ict_labels_and_fits_a_law_per_annotation(tmp_path):
    squad = shared_dataset("squad")
    ict = tmp_path / "squad-ict"
    annotate = [sys.executable, "-m", "dense_scaling.annotate", "method=ict", "data=squad", f"out={ict}",
                f"data_root={squad.parent}"]
    assert subprocess.run(annotate, cwd=tmp_path, capture_output=True, timeout=300).returncode == 0
    config = {"defaults": ["annotation_quick", "_self_"], "study": "tiny_annotation", "data_root": str(squad.parent),
              "annotations": {"ict": str(ict)}, "data": {"max_passage_length": 32},
              "training": {**TINY["training"], "max_steps": 6}, "eval": {**TINY["eval"], "every_n_steps": 3},
              "hydra": {"sweeper": {"params": {"data.annotation": "human,ict", "data.num_train_pairs": "64,128,256"}}}}
    (tmp_path / "tiny_annotation.yaml").write_text(yaml.safe_dump(config))
    sweep(tmp_path, "tiny_annotation")
    root = tmp_path / "multirun" / "tiny_annotation"
    records, skipped = collect([root])
    assert not skipped and sorted((r.annotation, r.D) for r in records) == [
        (a, d) for a in ("human", "ict") for d in (64, 128, 256)]
    assert fit_main([str(root), "--law", "data", "--bootstrap", "0"]) == 0
    fits = json.loads((root / "fit" / "params.json").read_text())["fits"]
    assert sorted(f["group"]["annotation"] for f in fits) == ["human", "ict"]
