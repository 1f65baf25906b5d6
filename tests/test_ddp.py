"""Data-parallel training and metric reduction (two CPU processes, gloo) against one process (slow)."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from dense_scaling.metrics import ContrastiveEntropy, contrastive_entropy, sample_negatives
from dense_scaling.model.biencoder import BiEncoder
from dense_scaling.model.distributed import leave_process_group
from tests.helpers.paths import SHARED_DATA

TINY_RUN = [
    "training.max_steps=6", "training.warmup_steps=2", "training.batch_size=8", "training.num_negatives=8",
    "training.dropout=0", "training.num_workers=0", "training.checkpoint_every_n_steps=3",
    "eval.every_n_steps=3", "eval.repeats=1", "eval.pool_size=300",
    "data.num_train_pairs=64", "+data.reader.num_passages=300", "+data.reader.num_test_passages=60",
    "+data.reader.num_concepts=60", "model=micro_L1_H32", "logger=csv",
]


def _train(out, trainer, cache, *extra):
    env = {**os.environ, "DENSE_SCALING_CACHE": str(cache), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "dense_scaling.train", f"trainer={trainer}", f"hydra.run.dir={out}",
               f"data_root={SHARED_DATA}", *TINY_RUN, *extra]
    done = subprocess.run(command, cwd=out.parent, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads((out / "results.json").read_text())


def _assert_same_run(got, expected, folders):
    """Same global batch, negatives gathered across ranks: the same loss, tokens, CE and weights."""
    assert got["tokens_seen"] == expected["tokens_seen"]
    assert got["train_loss_final"] == pytest.approx(expected["train_loss_final"], rel=1e-4)
    assert [s for s, _ in got["ce"]["history"]] == [3, 6]
    for (_, a), (_, b) in zip(got["ce"]["history"], expected["ce"]["history"]):
        assert a == pytest.approx(b, rel=1e-4)
    weights = [BiEncoder.from_pretrained(folder / "model").state_dict() for folder in folders]
    for name, value in weights[0].items():
        torch.testing.assert_close(weights[1][name], value, rtol=1e-4, atol=1e-5, msg=name)


@pytest.mark.slow
def test_two_process_ddp_run_equals_the_single_process_run(tmp_path):
    single = _train(tmp_path / "single", "cpu", tmp_path / "cache", "trainer.precision=32")
    ddp = _train(tmp_path / "ddp", "ddp_cpu", tmp_path / "cache")
    _assert_same_run(ddp, single, [tmp_path / "single", tmp_path / "ddp"])


@pytest.mark.slow
def test_ddp_with_grad_cache_and_checkpointing_equals_the_plain_single_process_run(tmp_path):
    single = _train(tmp_path / "single", "cpu", tmp_path / "cache", "trainer.precision=32")
    ddp = _train(tmp_path / "ddp", "ddp_cpu", tmp_path / "cache", "training.grad_cache=3",
                 "training.gradient_checkpointing=true")
    _assert_same_run(ddp, single, [tmp_path / "single", tmp_path / "ddp"])


def _metric_shard(rank, world, init_file, data, out_file):
    """One process: score its contiguous share of the pairs, then sync the Metric across processes."""
    torch.distributed.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    query, positive, pool, negatives = data
    rows = torch.arange(len(query)).tensor_split(world)[rank]
    metric = ContrastiveEntropy(temperature=0.05)
    metric.update(query[rows], positive[rows], pool, negatives[rows])
    result = metric.result()
    if rank == 0:
        torch.save({"mean": result.mean, "per_pair": torch.from_numpy(result.per_pair)}, out_file)
    leave_process_group()  # rank 1 waits for rank 0's file before gloo goes


@pytest.mark.slow
def test_the_metric_reduces_every_processs_pairs_under_gloo(tmp_path):
    generator = torch.Generator().manual_seed(0)
    query, positive, pool = (torch.randn(rows, 16, generator=generator) for rows in (9, 9, 40))
    negatives = sample_negatives(40, 9, num_negatives=8, repeats=2, seed=0)
    torch.multiprocessing.spawn(_metric_shard, args=(2, tmp_path / "init", (query, positive, pool, negatives),
                                                     tmp_path / "out.pt"), nprocs=2)
    synced = torch.load(tmp_path / "out.pt")
    alone = contrastive_entropy(query, positive, pool, negatives, temperature=0.05)
    assert synced["mean"] == pytest.approx(alone.mean, rel=1e-6)  # the mean of all 9 pairs (shards of 5 and 4)
    np.testing.assert_allclose(synced["per_pair"].numpy(), alone.per_pair, rtol=1e-6)
