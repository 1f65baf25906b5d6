"""Sharded evaluation: two gloo processes, each encoding its share, score a model exactly as one
process does (slow)."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from dense_scaling.data.quickstart import load_quickstart
from dense_scaling.data.token_cache import tokenize_data
from dense_scaling.data.tokenizer import from_pretrained
from dense_scaling.evaluation.encode import encode_texts
from dense_scaling.evaluation.evaluator import Evaluator
from dense_scaling.evaluation import material
from dense_scaling.metrics import write_run
from dense_scaling.model.biencoder import BiEncoder
from dense_scaling.model.distributed import leave_process_group
from tests.helpers.pinned import EVAL, READER, SIZES, pinned_model_dir

# batch 32: the 60 pairs are 2 batches (one a rank), the 200-passage pool 7 (the last round has one)
SETTINGS = {"num_negatives": 16, "repeats": 3, "pool_size": 200, "subcorpus_size": 150, "seed": 7}


def _score(rank, world, init_file, model_dir, cache_dir, out):
    """One process: score the pinned model; rank 0 writes the record, the run and one rank's view."""
    torch.set_num_threads(1)
    if world > 1:
        torch.distributed.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    data = load_quickstart(cache_dir, **SIZES)
    tokens = tokenize_data(data, from_pretrained(str(model_dir / "tokenizer")), 16, 48, cache_dir)
    model = BiEncoder.from_pretrained(model_dir)
    ce, ranking, run = Evaluator(material.test_material(data, tokens, **SETTINGS), batch_size=32, top_k=50).score(model)
    rows = np.arange(len(tokens.corpus))
    embeddings = encode_texts(model, tokens.corpus, rows, batch_size=32)  # every rank ends with all of them
    torch.save(embeddings, out / f"corpus-{world}-{rank}.pt")
    if rank == 0:
        write_run(out / f"run-{world}.trec", run)
        (out / f"record-{world}.json").write_text(json.dumps({"ce": ce.to_json(), "ranking": ranking.to_json()}))
    if world > 1:
        leave_process_group()


@pytest.mark.slow
def test_two_gloo_processes_score_like_one(tmp_path):
    model_dir = pinned_model_dir(tmp_path / "cache", tmp_path / "model")
    for world in (1, 2):
        torch.multiprocessing.spawn(_score, args=(world, tmp_path / f"init-{world}", model_dir, tmp_path / "cache",
                                                  tmp_path), nprocs=world)
    one, two = (json.loads((tmp_path / f"record-{world}.json").read_text()) for world in (1, 2))
    assert two["ce"]["reported"] == pytest.approx(one["ce"]["reported"], abs=1e-6)
    assert two["ce"]["reported_ci95"] == pytest.approx(one["ce"]["reported_ci95"], abs=1e-6)
    assert two["ranking"] == one["ranking"]
    assert one["ranking"]["num_queries"] == 60
    assert (tmp_path / "run-2.trec").read_bytes() == (tmp_path / "run-1.trec").read_bytes()
    alone = torch.load(tmp_path / "corpus-1-0.pt")
    for rank in (0, 1):  # both ranks hold every embedding, bit for bit those of one process
        assert torch.equal(torch.load(tmp_path / f"corpus-2-{rank}.pt"), alone)


@pytest.mark.slow
def test_evaluate_under_torchrun_writes_the_files_of_one_process(tmp_path):
    model_dir = pinned_model_dir(tmp_path / "cache", tmp_path / "model")
    settings = [f"model_dir={model_dir}", f"cache_dir={tmp_path / 'cache'}", *READER, *EVAL]
    launchers = {"one": [sys.executable, "-m", "dense_scaling.evaluate"],
                 "two": [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                         "-m", "dense_scaling.evaluate"]}
    for name, launcher in launchers.items():
        done = subprocess.run([*launcher, f"hydra.run.dir={tmp_path / name}", *settings], cwd=tmp_path,
                              env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        assert done.stdout.count("contrastive entropy") == 1  # rank 0 alone prints
    for file in ("run.trec", "qrels.trec"):
        assert (tmp_path / "two" / file).read_bytes() == (tmp_path / "one" / file).read_bytes()
    one, two = (json.loads((tmp_path / name / "results.json").read_text()) for name in ("one", "two"))
    assert two["ce"] == one["ce"] and two["ranking"] == one["ranking"]
