"""A small BEIR folder sampled from ../shared/data/squad, for tests that need real text."""
from __future__ import annotations

import gzip
import json
from pathlib import Path

from tests.helpers.beir import write_beir
from tests.helpers.paths import shared_dataset


def _one_query_per_passage(qrels: Path, passages: int) -> list[tuple[str, str]]:
    """(query id, passage id): the first query (by id) of each of the first ``passages`` passages (by id)."""
    pairs = sorted(tuple(line.split("\t")[:2]) for line in qrels.read_text().splitlines()[1:])
    first: dict[str, str] = {}
    for query, passage in pairs:
        first.setdefault(passage, query)
    return [(first[p], p) for p in sorted(first)[:passages]]


def squad_sample(folder: Path, test_passages: int = 100, train_passages: int = 300, other_passages: int = 100) -> Path:
    """SQuAD's test and train splits cut to one query on each of their first passages, and a corpus of
    those passages plus ``other_passages`` more (skips the test when ../shared/data/squad is absent)."""
    source = shared_dataset("squad")
    splits = {"test": _one_query_per_passage(source / "qrels" / "test.tsv", test_passages),
              "train": _one_query_per_passage(source / "qrels" / "train.tsv", train_passages)}
    with gzip.open(source / "corpus.jsonl.gz", "rt") as file:
        corpus = [json.loads(line) for line in file]
    used = {p for pairs in splits.values() for _, p in pairs}
    others = [doc["_id"] for doc in corpus if doc["_id"] not in used][:other_passages]
    keep = used | set(others)
    wanted = {q for pairs in splits.values() for q, _ in pairs}
    with gzip.open(source / "queries.jsonl.gz", "rt") as file:
        queries = [line.strip() for line in file if json.loads(line)["_id"] in wanted]
    return write_beir(folder, corpus=[json.dumps(doc) for doc in corpus if doc["_id"] in keep], queries=queries,
                      qrels={split: [f"{q}\t{p}\t1" for q, p in pairs] for split, pairs in splits.items()})
