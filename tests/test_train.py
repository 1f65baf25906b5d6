import csv
import json

import numpy as np
import pytest

from dense_scaling.scaling.compute import training_flops
from dense_scaling.train import run
from tests.helpers.paths import shared_dataset



def test_quickstart_run_writes_complete_results(compose_train, tmp_path):
    cfg = compose_train(
        "model=micro_L1_H32", "training.max_steps=4", "training.num_workers=0", "training.batch_size=8",
        "training.num_negatives=8", "data.num_train_pairs=64", "~logger", "eval=none",
    )
    results = run(cfg, tmp_path / "run")
    on_disk = json.loads((tmp_path / "run" / "results.json").read_text())
    assert on_disk == json.loads(json.dumps(results.to_json()))
    assert on_disk["complete"] is True and on_disk["D"] == 64 and on_disk["steps"] == 4
    assert on_disk["N"] == 32 * 32 * 12 + 13 * 32 + 2 * 32
    assert on_disk["N_with_projection"] == on_disk["N"] + 32 * 768 + 768
    assert on_disk["tokens_seen"] > 0 and on_disk["run"]["model"] == "micro_L1_H32"
    assert on_disk["proj_dim"] == 768 and on_disk["device_seconds"] == on_disk["wall_time_s"]
    assert on_disk["flops"]["train"] == training_flops(N=on_disk["N"], tokens=on_disk["tokens_seen"], steps=4, batch_size=8,
                                                       num_negatives=8, layers=1, hidden=32, proj_dim=768)
    assert (tmp_path / "run" / "model" / "biencoder.json").exists()
    assert not list((tmp_path / "run").glob(".results.json*"))  # no temporary file left


@pytest.mark.slow
def test_short_squad_run_lowers_the_training_loss(compose_train, tmp_path):
    shared_dataset("squad")
    cfg = compose_train(
        "data=squad", "tokenizer=vocab", "model=micro_L2_H64", "training.max_steps=60", "training.warmup_steps=10",
        "training.batch_size=16", "training.num_negatives=32", "data.max_passage_length=64",
        "training.num_workers=0", "eval=none",
    )
    run(cfg, tmp_path / "run")
    with open(tmp_path / "run" / "logs" / "metrics.csv") as file:
        losses = [float(r["train/loss"]) for r in csv.DictReader(file) if r.get("train/loss")]
    assert len(losses) == 6  # logged every 10 steps
    assert np.mean(losses[-2:]) < losses[0] - 0.3
