"""MS MARCO passage lengths in BERT tokens, as the histogram benchmarks/gpu_check.py draws from.

    python benchmarks/passage_lengths.py [--data ../shared/data/msmarco-trecdl-pool] [--out FILE]

The full MS MARCO collection is not available here; its TREC DL pool (24,879 real MS MARCO
passages, the top 100 of five retrievers for the DL19/20 queries) is. Lengths count [CLS] and
[SEP], with the uncased BERT vocabulary, truncated at `data=msmarco`'s max_passage_length.
"""
from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

import numpy as np
import yaml

from dense_scaling.data.readers import load_beir
from dense_scaling.data.tokenizer import from_vocab
from dense_scaling.results import write_json_atomic

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
MSMARCO_CONF = ROOT / "src" / "dense_scaling" / "conf" / "data" / "msmarco.yaml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=SHARED / "msmarco-trecdl-pool")
    parser.add_argument("--vocab", type=Path, default=SHARED / "vocab" / "bert-base-uncased" / "vocab.txt")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "msmarco_passage_lengths.json")
    args = parser.parse_args()
    max_length = yaml.safe_load(MSMARCO_CONF.read_text())["max_passage_length"]
    texts = load_beir(args.data).corpus_texts
    ids = from_vocab(args.vocab)(texts, truncation=True, max_length=max_length, return_attention_mask=False)
    lengths = np.array([len(row) for row in ids["input_ids"]])
    write_json_atomic(args.out, {
        "source": f"{args.data.name}: {len(lengths)} MS MARCO passages (corpus.jsonl.gz)",
        "tokenizer": f"{args.vocab.parent.name} WordPiece, with [CLS] and [SEP]",
        "max_length": max_length,
        "mean": round(float(lengths.mean()), 2),
        "median": float(np.median(lengths)),
        "counts": {str(k): v for k, v in sorted(Counter(lengths.tolist()).items())},
    })
    print(f"{len(lengths)} passages: mean {lengths.mean():.1f}, median {np.median(lengths):.0f}, "
          f"{(lengths == max_length).mean():.1%} at the cap {max_length} -> {args.out}")


if __name__ == "__main__":
    main()
