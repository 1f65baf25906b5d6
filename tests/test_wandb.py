"""wandb: offline unless an API key is set up; config and summary of a run; fit --wandb. No network."""
import json
import os
import subprocess
import sys
from pathlib import Path

from wandb.proto import wandb_internal_pb2

from dense_scaling import wandb_setup
from dense_scaling.fit import main as fit_main
from tests.test_scaling_collect import write_result


def offline_run(folder: Path) -> dict:
    """What an offline run recorded in its ``run-*.wandb`` log (wandb 0.2x+ writes no JSON files
    offline): the run's group, name and job type, the config and the last summary values."""
    (path,) = folder.glob("run-*.wandb")
    data, block = path.read_bytes(), 32768  # a leveldb-style log: 7-byte headers, 32 KiB blocks
    assert data[:4] == b":W&B"
    run, pos, pending = {"config": {}, "summary": {}}, 7, b""
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # block trailer padding
            pos += block - pos % block
            continue
        length, kind = int.from_bytes(data[pos + 4:pos + 6], "little"), data[pos + 6]
        pending, pos = pending + data[pos + 7:pos + 7 + length], pos + 7 + length
        if kind in (1, 4):  # a full record, or the last chunk of one
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            pending = b""
            if record.HasField("run"):
                run |= {"group": record.run.run_group, "name": record.run.display_name, "job_type": record.run.job_type}
            for part, items in (("config", record.config.update), ("summary", record.summary.update)):
                run[part] |= {item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in items}
    return run


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


def test_a_run_writes_offline_files_with_config_and_summary(tmp_path):
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
    (folder,) = (tmp_path / "run" / "wandb").glob("offline-run-*")
    recorded = offline_run(folder)
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert (recorded["group"], recorded["name"], recorded["job_type"]) == ("wandb_test", "micro_L1_H32_D64", "train")
    summary, config = recorded["summary"], recorded["config"]
    assert summary["N"] == results["N"] and summary["D"] == 64 and summary["steps"] == 4
    assert summary["ce.reported"] == results["ce"]["reported"]
    assert summary["ranking.ndcg@10"] == results["ranking"]["ndcg@10"]
    assert summary["test/ce"] == results["ce"]["final"]  # the last evaluation, logged during training
    assert config["N"] == results["N"] and config["D"] == 64
    assert config["study"] == "wandb_test" and config["model"]["name"] == "micro_L1_H32"


def test_fit_logs_figures_and_parameters_to_the_study_group(monkeypatch, tmp_path):
    no_key(monkeypatch, tmp_path)
    monkeypatch.setenv("WANDB_MODE", "offline")
    for i, N in enumerate((1e5, 1e6, 1e7, 1e8)):
        write_result(tmp_path / "runs" / str(i), N, 1e4, 0.1 + (3e4 / N) ** 0.5, replace={
            "run": {"model": f"m{i}", "data": "d", "annotation": "human", "seed": 0, "study": "model_size_quick"}})
    assert fit_main([str(tmp_path / "runs"), "--law", "model", "--bootstrap", "0", "--wandb"]) == 0
    (folder,) = (tmp_path / "runs" / "fit" / "wandb").glob("offline-run-*")
    recorded = offline_run(folder)
    summary = recorded["summary"]
    fitted = json.loads((tmp_path / "runs" / "fit" / "params.json").read_text())
    alpha = next(v for k, v in summary.items() if k.startswith("model/") and k.endswith("/alpha"))
    (fit,) = fitted["fits"]
    assert alpha == fit["params"]["alpha"] and summary["ce_vs_N/_type"] == "image-file"
    assert len(list((folder / "files" / "media" / "images").glob("ce_vs_N_*.png"))) == 1
    assert (recorded["group"], recorded["job_type"]) == ("model_size_quick", "fit")
