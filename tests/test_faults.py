"""Faults during a run: a loss that stops being finite, torn or foreign checkpoints, a second
process on the same run folder, a resumed metrics.csv, strict result files."""
import json
import math
import os
import stat

import pytest
import torch

from dense_scaling import runs
from dense_scaling.loggers import ResumableCSVLogger
from dense_scaling.model.finite import NonFiniteError
from dense_scaling.model.module import ContrastiveRetriever
from dense_scaling.results import write_json_atomic
from dense_scaling.scaling.collect import collect
from dense_scaling.train import run
from tests.helpers.results import write_result
from tests.helpers.tiny import TINY_EVAL, TINY_RUN


def test_a_loss_that_turns_nan_stops_the_run_and_keeps_the_last_good_checkpoint(compose_train, tmp_path, monkeypatch):
    cfg = compose_train(*TINY_RUN, *TINY_EVAL, "training.max_steps=6", "training.checkpoint_every_n_steps=2",
                        "eval.every_n_steps=2", "~logger")
    train_step = ContrastiveRetriever.training_step

    def diverging(self, batch, batch_idx):
        loss = train_step(self, batch, batch_idx)
        return loss * float("nan") if self.global_step == 3 else loss

    monkeypatch.setattr(ContrastiveRetriever, "training_step", diverging)
    with pytest.raises(NonFiniteError, match="the training loss is nan at step 4"):
        run(cfg, tmp_path / "run")
    assert not (tmp_path / "run" / "results.json").exists()
    kept = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=True)
    assert kept["global_step"] == 2
    assert all(torch.isfinite(value).all() for value in kept["state_dict"].values())


def test_a_diverging_learning_rate_is_caught_at_its_step(compose_train, tmp_path):
    cfg = compose_train(*TINY_RUN, "training.max_steps=20", "training.lr=1e6", "similarity=dot", "temperature=1e-6",
                        "training.warmup_steps=0", "trainer.gradient_clip_val=null", "eval=none", "~logger")
    with pytest.raises(NonFiniteError, match=r"at step \d+; lower training.lr"):
        run(cfg, tmp_path / "run")
    assert not (tmp_path / "run" / "results.json").exists()


def _checkpoint(path, step):
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"global_step": step, "state_dict": {"w": torch.ones(2)}}, path)


def test_a_truncated_last_checkpoint_is_moved_aside_and_the_previous_one_resumed(tmp_path, capsys):
    folder = tmp_path / "checkpoints"
    _checkpoint(folder / "previous.ckpt", 10)
    _checkpoint(folder / "last.ckpt", 20)
    data = (folder / "last.ckpt").read_bytes()
    (folder / "last.ckpt").write_bytes(data[: len(data) // 2])
    assert runs.resume_checkpoint(tmp_path) == folder / "previous.ckpt"
    assert (folder / "last.ckpt.unreadable").exists() and not (folder / "last.ckpt").exists()
    said = capsys.readouterr().out
    assert f"moved aside: {folder / 'last.ckpt'}" in said and f"resuming from {folder / 'previous.ckpt'}" in said


def test_unreadable_checkpoints_and_none_left_start_from_scratch(tmp_path, capsys):
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    (folder / "last.ckpt").write_text("not a checkpoint")
    assert runs.resume_checkpoint(tmp_path) is None
    assert "starting from scratch" in capsys.readouterr().out


class Payload:
    def __reduce__(self):
        return (os.system, (f"touch {PWNED}",))


PWNED = None


def test_a_checkpoint_with_code_in_it_is_refused_and_its_code_never_runs(tmp_path):
    global PWNED
    PWNED = tmp_path / "pwned"
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    torch.save({"global_step": 3, "evil": Payload()}, folder / "last.ckpt")
    assert runs.resume_checkpoint(tmp_path) is None
    assert not PWNED.exists() and (folder / "last.ckpt.unreadable").exists()


def test_a_run_folder_has_one_writer(tmp_path):
    with runs.claim(tmp_path / "run") as first:
        assert first is None
        with runs.claim(tmp_path / "run") as second:  # another open file: as another process would
            assert second == f"pid {os.getpid()} on {os.uname().nodename}"
    with runs.claim(tmp_path / "run") as again:
        assert again is None  # released when the first holder finished


def test_checkpoints_keep_the_last_two_and_resume_continues_the_steps(compose_train, tmp_path):
    cfg = compose_train(*TINY_RUN, "training.max_steps=6", "training.checkpoint_every_n_steps=2", "eval=none", "~logger")
    out = tmp_path / "run"
    train_step = ContrastiveRetriever.training_step

    def stop_at_5(self, batch, batch_idx):
        if self.global_step == 5:
            raise RuntimeError("stopped")
        return train_step(self, batch, batch_idx)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ContrastiveRetriever, "training_step", stop_at_5)
        with pytest.raises(RuntimeError):
            run(cfg, out)
    steps = {name: torch.load(out / "checkpoints" / name, weights_only=True)["global_step"]
             for name in ("last.ckpt", "previous.ckpt")}
    assert steps == {"last.ckpt": 4, "previous.ckpt": 2}
    assert not list((out / "checkpoints").glob(".*tmp"))
    assert run(cfg, out).steps == 6


def test_a_resumed_metrics_csv_keeps_the_earlier_rows_and_replaces_the_relogged_ones(tmp_path):
    first = ResumableCSVLogger(tmp_path, name="logs", version="")
    for step in (9, 19, 29):
        first.log_metrics({"train/loss": float(step)}, step=step)
    first.save()
    resumed = ResumableCSVLogger(tmp_path, name="logs", version="")  # resumed from step 20: 29 comes again
    resumed.log_metrics({"train/loss": 2.9}, step=29)
    resumed.log_metrics({"test/ce": 1.5}, step=30)
    resumed.save()
    rows = (tmp_path / "logs" / "metrics.csv").read_text().splitlines()
    assert rows == ["step,test/ce,train/loss", "9,,9.0", "19,,19.0", "29,,2.9", "30,1.5,"]


def test_result_files_are_strict_json_and_readable_by_others(tmp_path):
    with pytest.raises(ValueError, match="not written, it would hold a non-finite number"):
        write_json_atomic(tmp_path / "results.json", {"ce": math.nan})
    assert not list(tmp_path.iterdir())
    path = write_json_atomic(tmp_path / "params.json", {"r2": math.nan, "ci": [1.0, math.inf]}, non_finite_as_null=True)
    assert json.loads(path.read_text()) == {"r2": None, "ci": [1.0, None]}
    old = os.umask(0o022)
    try:
        mode = stat.S_IMODE(write_json_atomic(tmp_path / "x.json", {}).stat().st_mode)
    finally:
        os.umask(old)
    assert mode == 0o644


def test_fit_lists_a_diverged_run_and_fits_the_others(tmp_path):
    for i, N in enumerate((1e5, 1e6, 1e7)):
        write_result(tmp_path / str(i), N, 1e4, 1.0 + 1e3 / N)
    diverged = write_result(tmp_path / "nan", 1e8, 1e4, 1.0)
    diverged.write_text(diverged.read_text().replace('"reported": 1.0', '"reported": NaN'))
    records, skipped = collect(tmp_path)
    assert len(records) == 3
    (skip,) = skipped
    assert skip.path == str(diverged) and "ce.reported is nan (the run diverged)" in skip.reason
