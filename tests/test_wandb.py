"""wandb: offline unless an API key is set up; what our code sends to wandb (a recording stand-in
for the module); one real offline run whose files are checked to exist. No network, and no
reading of wandb's own log format."""
import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

from dense_scaling import wandb_setup
from dense_scaling.fit import main as fit_main
from dense_scaling.results import RANKING_METRICS, RunResults
from tests.helpers.results import write_result


class _Recorder(dict):
    """A run's config or summary: remembers every ``update``."""

    def update(self, values=(), **kwargs):
        super().update(dict(values, **kwargs))


class RecordingWandb(types.ModuleType):
    """The parts of the ``wandb`` module our code calls, recording what it is given."""

    def __init__(self, run_dir: Path):
        super().__init__("wandb")
        self.run_dir, self.run, self.inits, self.finished = run_dir, None, [], []

    def init(self, **kwargs):
        self.inits.append(kwargs)
        self.run = types.SimpleNamespace(config=_Recorder(), summary=_Recorder(), logged=[],
                                         dir=str(self.run_dir / "files"))
        self.run.log = self.run.logged.append
        return self.run

    def finish(self, exit_code=0):
        self.finished.append(exit_code)

    @staticmethod
    def Image(path):  # noqa: N802 (wandb's name)
        return ("image", path)


@pytest.fixture
def recording_wandb(monkeypatch, tmp_path):
    fake = RecordingWandb(tmp_path / "wandb-run")
    monkeypatch.setitem(sys.modules, "wandb", fake)
    return fake


def no_key(monkeypatch, home):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_BASE_URL", raising=False)
    monkeypatch.setenv("HOME", str(home))


def test_offline_without_a_key_online_with_one(monkeypatch, tmp_path):
    no_key(monkeypatch, tmp_path)
    assert not wandb_setup.has_api_key()
    netrc = tmp_path / ".netrc"
    netrc.write_text("machine example.org login user password secret\n")
    netrc.chmod(0o600)  # `wandb login` writes it so; Python's netrc refuses looser permissions
    assert not wandb_setup.has_api_key()
    netrc.write_text("machine api.wandb.ai login user password secret\n")
    assert wandb_setup.has_api_key()
    netrc.unlink()
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    assert wandb_setup.has_api_key()


def test_logger_config_resolves_offline_and_groups_by_study(compose_train, monkeypatch, tmp_path):
    no_key(monkeypatch, tmp_path)
    cfg = compose_train("logger=wandb", "study=joint_quick", "model=micro_L1_H32", "data.num_train_pairs=64")
    assert cfg.logger.offline is True and cfg.logger.group == "joint_quick"
    assert cfg.logger.name == "micro_L1_H32_D64" and cfg.logger.save_dir == str(tmp_path / "run")


def test_a_finished_run_sends_its_config_sizes_and_summary(compose_train, recording_wandb):
    cfg = compose_train("logger=wandb", "study=wandb_test", "model=micro_L1_H32", "data.num_train_pairs=64")
    recording_wandb.init()  # Lightning's WandbLogger opened the run during training
    results = RunResults.read(write_result(Path(recording_wandb.run_dir), 1e5, 64, 2.5))
    wandb_setup.finish_run(cfg, results)
    run = recording_wandb.run
    assert run.summary == {"N": 1e5, "D": 64, "steps": 400, "ce.reported": 2.5, "ce.best": 2.5, "ce.final": 2.5,
                           **{f"ranking.{k}": results.ranking.metrics[k] for k in RANKING_METRICS}}
    assert run.config["N"] == 1e5 and run.config["D"] == 64
    assert run.config["study"] == "wandb_test" and run.config["model"]["name"] == "micro_L1_H32"
    assert recording_wandb.finished == [0]


def test_a_failed_run_is_marked_failed(compose_train, recording_wandb):
    cfg = compose_train("logger=wandb", "model=micro_L1_H32")
    recording_wandb.init()
    wandb_setup.finish_run(cfg, None)
    assert recording_wandb.finished == [1] and recording_wandb.run.summary == {}


def test_a_run_without_the_wandb_logger_sends_nothing(compose_train, recording_wandb, tmp_path):
    wandb_setup.finish_run(compose_train("logger=csv"), RunResults.read(write_result(tmp_path / "r", 1, 1, 2.0)))
    assert recording_wandb.inits == [] and recording_wandb.finished == []


def test_fit_logs_figures_and_parameters_to_the_study_group(monkeypatch, tmp_path, recording_wandb):
    no_key(monkeypatch, tmp_path)
    for i, N in enumerate((1e5, 1e6, 1e7, 1e8)):
        write_result(tmp_path / "runs" / str(i), N, 1e4, 0.1 + (3e4 / N) ** 0.5, replace={
            "run": {"model": f"m{i}", "data": "d", "annotation": "human", "seed": 0, "study": "model_size_quick"}})
    assert fit_main([str(tmp_path / "runs"), "--law", "model", "--bootstrap", "0", "--wandb"]) == 0
    (init,) = recording_wandb.inits
    assert (init["group"], init["job_type"], init["mode"]) == ("model_size_quick", "fit", "offline")
    assert init["dir"] == str(tmp_path / "runs" / "fit")
    (fit,) = json.loads((tmp_path / "runs" / "fit" / "params.json").read_text())["fits"]
    summary = recording_wandb.run.summary
    assert summary[f"model/{fit['label']}/alpha"] == fit["params"]["alpha"]
    assert summary[f"model/{fit['label']}/r2"] == fit["r2"]
    (images,) = recording_wandb.run.logged
    assert images["ce_vs_N"] == ("image", str(tmp_path / "runs" / "fit" / "ce_vs_N.png"))
    assert recording_wandb.finished == [0]


@pytest.mark.slow
def test_a_real_offline_run_and_fit_write_their_wandb_folders(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    env |= {"HOME": str(tmp_path), "WANDB_MODE": "offline", "DENSE_SCALING_CACHE": str(tmp_path / "cache"),
            "OMP_NUM_THREADS": "1"}
    overrides = ["logger=wandb", "study=wandb_test", "model=micro_L1_H32", "training.max_steps=4",
                 "training.num_workers=0", "training.batch_size=8", "training.num_negatives=8",
                 "data.num_train_pairs=64", "eval.every_n_steps=2", "eval.repeats=1", "eval.pool_size=300",
                 "+data.reader.num_passages=300", "+data.reader.num_test_passages=60", "+data.reader.num_concepts=60",
                 "hydra.run.dir=run"]
    done = subprocess.run([sys.executable, "-m", "dense_scaling.train", *overrides], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads((tmp_path / "run" / "results.json").read_text())["complete"] is True
    (folder,) = (tmp_path / "run" / "wandb").glob("offline-run-*")
    (log,) = folder.glob("run-*.wandb")
    assert log.stat().st_size > 0
    fitted = subprocess.run([sys.executable, "-m", "dense_scaling.fit", "run", "--law", "none", "--wandb"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert fitted.returncode == 0, fitted.stderr[-3000:]
    (fit_folder,) = (tmp_path / "run" / "fit" / "wandb").glob("offline-run-*")
    assert list(fit_folder.glob("run-*.wandb")) and f"wandb: logged to {fit_folder.relative_to(tmp_path)}" in fitted.stdout
