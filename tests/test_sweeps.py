"""Robust multiruns: predictable folders, skip completed runs, isolate and list failures, resume."""
import json

import pytest
import torch
import yaml

from dense_scaling import runs
from dense_scaling.model.module import ContrastiveRetriever
from dense_scaling.train import run
from tests.helpers.sweeps import SWEEPS, sweep, tiny_study

GOOD, BAD = "data.num_train_pairs=64", "data.num_train_pairs=999999"


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """A tiny data-size sweep with one run that cannot start (more pairs than exist)."""
    cwd = tmp_path_factory.mktemp("sweep")
    name = tiny_study(cwd, "data_size_quick", {"data.num_train_pairs": "64,999999"})
    return cwd, cwd / "multirun" / name, sweep(cwd, name)


@pytest.mark.slow
def test_runs_land_in_one_folder_per_override_set(swept):
    _, root, _ = swept
    assert sorted(p.name for p in root.iterdir() if p.is_dir()) == [GOOD, BAD]
    results = json.loads((root / GOOD / "results.json").read_text())
    assert results["complete"] and results["D"] == 64 and results["steps"] == 4
    assert not (root / GOOD / "checkpoints").exists()  # removed once results.json is written


@pytest.mark.slow
def test_a_failed_run_is_recorded_and_listed_without_stopping_the_sweep(swept):
    _, root, done = swept
    failure = json.loads((root / BAD / "failed.json").read_text())
    assert failure["type"] == "ValueError" and "999999" in failure["error"]
    assert "Traceback" in failure["traceback"] and BAD in failure["overrides"]
    assert not (root / BAD / "results.json").exists()
    assert "1 failed run(s)" in done.stdout and f"FAILED {root.relative_to(swept[0]) / BAD}" in done.stdout


@pytest.mark.slow
def test_running_the_sweep_again_skips_completed_runs(swept):
    cwd, root, _ = swept
    before = (root / GOOD / "results.json").read_bytes()
    again = sweep(cwd, "tiny")
    skipped = [line for line in again.stdout.splitlines() if line.startswith("skipped:")]
    assert len(skipped) == 1 and f"{GOOD}/results.json" in skipped[0]
    assert (root / GOOD / "results.json").read_bytes() == before
    assert json.loads((root / BAD / "failed.json").read_text())["type"] == "ValueError"  # retried, failed again


def _tensors(state) -> list[torch.Tensor]:
    """Every tensor in a nest of dicts, lists and tuples."""
    if isinstance(state, torch.Tensor):
        return [state]
    items = state.values() if isinstance(state, dict) else state if isinstance(state, (list, tuple)) else []
    return [t for item in items for t in _tensors(item)]


def test_an_interrupted_run_resumes_from_its_last_checkpoint(compose_train, tmp_path, monkeypatch):
    cfg = compose_train(
        "model=micro_L1_H32", "training.max_steps=4", "training.num_workers=0", "training.batch_size=8",
        "training.num_negatives=8", "training.checkpoint_every_n_steps=2", "data.num_train_pairs=64",
        "eval.every_n_steps=2", "eval.repeats=1", "eval.pool_size=300", "eval.ranking=false", "~logger",
        "+data.reader.num_passages=300", "+data.reader.num_test_passages=60", "+data.reader.num_concepts=60",
    )
    out = tmp_path / "run"
    train_step, steps_run = ContrastiveRetriever.training_step, []

    def interrupted(self, batch, batch_idx):
        if self.global_step == 3:
            raise RuntimeError("interrupted at step 3")
        return train_step(self, batch, batch_idx)

    monkeypatch.setattr(ContrastiveRetriever, "training_step", interrupted)
    with pytest.raises(RuntimeError, match="interrupted"):
        run(cfg, out)
    assert runs.resume_checkpoint(out) is not None and not (out / "results.json").exists()
    checkpoint = torch.load(runs.resume_checkpoint(out), weights_only=True)
    first_attempt_s = checkpoint["elapsed_s"]
    weights = sum(t.numel() for t in checkpoint["state_dict"].values())
    in_callbacks = sum(t.numel() for t in _tensors(checkpoint["callbacks"]))
    assert in_callbacks < weights / 10  # the weights once: the selected step's are in their own file
    assert [p.name for p in (out / runs.CHECKPOINTS).glob("selected-*.pt")] == ["selected-2.pt"]

    def counted(self, batch, batch_idx):
        steps_run.append(self.global_step)
        return train_step(self, batch, batch_idx)

    monkeypatch.setattr(ContrastiveRetriever, "training_step", counted)
    results = run(cfg, out)
    assert steps_run == [2, 3]  # picked up after the step-2 checkpoint
    assert results.steps == 4
    assert [step for step, _ in results.ce.history] == [2, 4]  # the step-2 evaluation survived
    assert results.wall_time_s > first_attempt_s > 0  # both attempts counted


def test_training_time_adds_up_across_attempts():
    module = ContrastiveRetriever(torch.nn.Linear(1, 1))
    module.on_load_checkpoint({"elapsed_s": 100.0})
    module.on_fit_start()
    assert 100.0 <= module.elapsed_s() < 101.0
    checkpoint = {}
    module.on_save_checkpoint(checkpoint)
    assert checkpoint["elapsed_s"] >= 100.0


def test_every_study_has_a_quick_and_a_paper_form():
    names = {p.stem for p in SWEEPS.glob("*.yaml")}
    studies = {"model_size", "data_size", "annotation", "joint", "dimension"}
    assert names == {f"{s}_{form}" for s in studies for form in ("quick", "paper")}
    for name in names:
        config = yaml.safe_load((SWEEPS / f"{name}.yaml").read_text())
        assert config["study"] == name and config["defaults"][0] == "train"
        assert config["hydra"]["sweeper"]["params"]
