"""A fixed tiny model and data set for pinning evaluation numbers across refactors: the
300-passage quickstart, its trained WordPiece tokenizer and a seeded, untrained micro_L1_H32."""
from __future__ import annotations

from pathlib import Path

import torch

from dense_scaling.data.quickstart import load_quickstart
from dense_scaling.data.tokenizer import TrainedWordPiece
from dense_scaling.model.biencoder import build_biencoder

SIZES = {"num_passages": 300, "num_test_passages": 60, "num_concepts": 60}
READER = [f"+data.reader.{key}={value}" for key, value in SIZES.items()]
EVAL = ["eval.num_negatives=16", "eval.repeats=3", "eval.pool_size=200", "eval.subcorpus_size=150", "eval.top_k=50",
        "eval.seed=7", "eval.batch_size=32"]
ARCH = {"model_type": "bert", "num_hidden_layers": 1, "hidden_size": 32, "num_attention_heads": 1,
        "intermediate_size": 64, "max_position_embeddings": 64}


def pinned_model_dir(cache_dir: Path, out: Path) -> Path:
    """Save the fixed model (seed 0, dot similarity) with its tokenizer into ``out``."""
    data = load_quickstart(cache_dir, **SIZES)
    tokenizer = TrainedWordPiece(vocab_size=500).build(data, cache_dir)
    torch.manual_seed(0)
    model = build_biencoder("scratch", arch=ARCH, vocab_size=len(tokenizer), dropout=0.0, proj_dim=16,
                            similarity="dot", temperature=1.0)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out / "tokenizer")
    return out
