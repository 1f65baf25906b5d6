"""Ranking evaluation cost: encode a subcorpus, encode queries, exact FAISS search, metrics.

    python benchmarks/bench_ranking.py [--model bert_tiny] [--passages 100000] [--queries 1000]

The corpus is the real TREC DL pooled MS MARCO passages from ../shared/data (24,879), repeated
under new ids up to --passages; the 97 TREC DL queries are repeated likewise with their qrels.
Weights are random (speed does not depend on them). Prints each stage's wall time and share.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from hydra import compose, initialize_config_module

from dense_scaling import build
from dense_scaling.data.readers import RetrievalData, load_beir
from dense_scaling.data.token_cache import tokenize_cached
from dense_scaling.data.tokenizer import from_vocab
from dense_scaling.metrics import evaluate_run, search
from dense_scaling.evaluation.encode import encode_texts
from dense_scaling.model.biencoder import special_token_ids

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def tiled(data: RetrievalData, passages: int, queries: int) -> RetrievalData:
    """The corpus and the test queries repeated under new ids up to the asked sizes."""
    corpus_ids = [f"{pid}~{i // len(data.corpus_ids)}" for i, pid in zip(range(passages), _cycle(data.corpus_ids))]
    corpus_texts = [t for _, t in zip(range(passages), _cycle(data.corpus_texts))]
    test = data.split("test")
    query_ids, query_texts, qrels = [], [], {}
    for i, qid in zip(range(queries), _cycle(list(test))):
        copy = f"{qid}~{i // len(test)}"
        query_ids.append(copy)
        query_texts.append(data.query_texts[data.query_index[qid]])
        qrels[copy] = {f"{pid}~0": grade for pid, grade in test[qid].items()}
    return RetrievalData("tiled", corpus_ids, corpus_texts, query_ids, query_texts, {"test": qrels})


def _cycle(items):
    while True:
        yield from items


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="bert_tiny")
    parser.add_argument("--passages", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--max-passage-length", type=int, default=180)
    args = parser.parse_args()
    data = tiled(load_beir(SHARED / "msmarco-trecdl-pool"), args.passages, args.queries)
    tokenizer = from_vocab(SHARED / "vocab" / "bert-base-uncased" / "vocab.txt")
    with initialize_config_module("dense_scaling.conf", version_base="1.3"):
        cfg = compose("train", overrides=[f"model={args.model}", "similarity=dot", "temperature=1"])
    model = build.biencoder(cfg, len(tokenizer), special_token_ids(tokenizer))
    timings = {}
    with tempfile.TemporaryDirectory() as cache:
        started = time.perf_counter()
        corpus = tokenize_cached(data.corpus_texts, data.corpus_fingerprint, tokenizer, args.max_passage_length, cache)
        queries = tokenize_cached(data.query_texts, data.queries_fingerprint, tokenizer, 32, cache)
        timings["tokenize (once per data set, cached)"] = time.perf_counter() - started
        started = time.perf_counter()
        passage_emb = encode_texts(model, corpus, np.arange(len(corpus)), desc="passages")
        timings["encode passages"] = time.perf_counter() - started
        started = time.perf_counter()
        query_emb = encode_texts(model, queries, np.arange(len(queries)), desc="queries")
        timings["encode queries"] = time.perf_counter() - started
        started = time.perf_counter()
        run = search(query_emb, passage_emb, data.query_ids, data.corpus_ids, k=1000)
        timings["FAISS flat search, top 1000"] = time.perf_counter() - started
        started = time.perf_counter()
        result = evaluate_run(run, data.qrels["test"])
        timings["metrics"] = time.perf_counter() - started
    total = sum(v for k, v in timings.items() if not k.startswith("tokenize"))
    print(f"{args.model}, {args.passages:,} passages (<= {args.max_passage_length} tokens), {args.queries:,} queries")
    for stage, seconds in timings.items():
        share = "" if stage.startswith("tokenize") else f" {seconds / total:6.1%}"
        print(f"  {stage:38s} {seconds:8.1f} s{share}")
    print(f"  {'evaluation total (without tokenizing)':38s} {total:8.1f} s")
    print(f"  (MAP@10 {result.means['map@10']:.4f} of a random model, a sanity check only)")


if __name__ == "__main__":
    main()
