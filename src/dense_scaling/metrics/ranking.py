"""Exact inner-product search and ranking metrics with trec_eval's definitions.

A run is {qid: {docid: score}}, qrels are {qid: {docid: grade}}; ids are strings (as in TREC
files). Ranking order is trec_eval's: score descending, ties broken by docid descending
(byte order). A passage is relevant when its grade is >= 1; nDCG gains are the grades.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import log2

import numpy as np
import torch
from tqdm.auto import tqdm

from dense_scaling.results import RANKING_METRICS as MEASURES


def _float32(x, name: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu()
    a = np.ascontiguousarray(np.asarray(x, dtype=np.float32))
    if a.ndim != 2:
        raise ValueError(f"{name} must be 2-D [rows, dim], got shape {a.shape}")
    return a


def search(
    query_emb,
    passage_emb,
    query_ids,
    passage_ids,
    k: int = 1000,
    batch_size: int = 1024,
    progress: bool = True,
) -> dict[str, dict[str, float]]:
    """Exact top-k inner-product search (FAISS IndexFlatIP, float32) -> run {qid: {docid: score}}.

    `k` is capped at the number of passages. Queries are searched in batches of
    `batch_size`; a progress bar appears on stderr when the search lasts over 2 s.
    """
    queries, passages = _float32(query_emb, "query_emb"), _float32(passage_emb, "passage_emb")
    query_ids, passage_ids = [str(q) for q in query_ids], [str(p) for p in passage_ids]
    if len(query_ids) != len(queries) or len(passage_ids) != len(passages):
        raise ValueError(
            f"got {len(query_ids)} query ids for {len(queries)} query embeddings and "
            f"{len(passage_ids)} passage ids for {len(passages)} passage embeddings"
        )
    if queries.shape[1] != passages.shape[1]:
        raise ValueError(f"query dim {queries.shape[1]} != passage dim {passages.shape[1]}")
    if len(passages) == 0:
        raise ValueError("cannot search an empty set of passages")
    try:
        import faiss  # imported here, so the rest of dense_scaling.metrics works without it
    except ImportError:
        raise ImportError("exact search needs FAISS: pip install faiss-cpu") from None
    index = faiss.IndexFlatIP(passages.shape[1])
    index.add(passages)
    k = min(k, len(passages))
    run = {}
    with tqdm(total=len(queries), desc="search", unit="query", delay=2.0, disable=not progress) as bar:
        for start in range(0, len(queries), batch_size):
            scores, rows = index.search(queries[start : start + batch_size], k)
            for qid, s, r in zip(query_ids[start : start + batch_size], scores.tolist(), rows.tolist()):
                run[qid] = {passage_ids[j]: v for j, v in zip(r, s)}
            bar.update(len(scores))
    return run


def trec_order(docs: dict[str, float]) -> list[tuple[str, float]]:
    """(docid, score) in trec_eval's ranking order: score descending, then docid descending."""
    return sorted(docs.items(), key=lambda item: (item[1], item[0]), reverse=True)


def _ranks(docs: dict[str, float], wanted) -> dict[str, int]:
    """1-based trec_eval ranks of the `wanted` docids (each present in `docs`)."""
    ids = list(docs)
    scores = np.fromiter(docs.values(), dtype=np.float64, count=len(ids))
    if np.isnan(scores).any():
        raise ValueError("the run has NaN scores: check the embeddings")
    out = {}
    for doc in wanted:
        score = docs[doc]
        ties = np.flatnonzero(scores == score)
        out[doc] = int((scores > score).sum()) + sum(ids[j] > doc for j in ties) + 1
    return out


def query_metrics(docs: dict[str, float], grades: dict[str, int]) -> dict[str, float]:
    """The four measures of one query that has at least one relevant (grade >= 1) passage."""
    num_rel = sum(g >= 1 for g in grades.values())
    gained = _ranks(docs, [d for d, g in grades.items() if g > 0 and d in docs])
    rel_ranks = sorted(r for d, r in gained.items() if grades[d] >= 1)
    ideal = sorted((g for g in grades.values() if g > 0), reverse=True)[:10]
    dcg = sum(grades[d] / log2(r + 1) for d, r in gained.items() if r <= 10)
    return {
        "map@10": sum((i + 1) / r for i, r in enumerate(rel_ranks) if r <= 10) / num_rel,
        "ndcg@10": dcg / sum(g / log2(i + 2) for i, g in enumerate(ideal)),
        "recall@1000": sum(r <= 1000 for r in rel_ranks) / num_rel,
        "mrr@10": 1.0 / rel_ranks[0] if rel_ranks and rel_ranks[0] <= 10 else 0.0,
    }


@dataclass(frozen=True)
class RankingResult:
    """Means over evaluated queries, per-query values and query counts.

    num_queries: queries evaluated (in the qrels with >= 1 relevant passage);
    skipped_queries: in the qrels without a relevant passage, not evaluated;
    missing_queries: evaluated but absent from the run, scored 0 on every measure;
    unjudged_queries: in the run but not in the qrels, ignored.
    """

    means: dict[str, float]
    per_query: dict[str, dict[str, float]]
    num_queries: int
    skipped_queries: int
    missing_queries: int
    unjudged_queries: int

    def as_dict(self) -> dict:
        """Flat dict for results.json: the means and the counts."""
        counts = ("num_queries", "skipped_queries", "missing_queries", "unjudged_queries")
        return {**self.means, **{c: getattr(self, c) for c in counts}}


def _check_str_ids(run: dict, qrels: dict) -> None:
    first_docs = (next(iter(d), "") for d in run.values())
    doc_ids = (d for grades in qrels.values() for d in grades)
    checks = (("run qids", run), ("qrels qids", qrels), ("run docids", first_docs), ("qrels docids", doc_ids))
    for what, ids in checks:
        bad = next((i for i in ids if not isinstance(i, str)), None)
        if bad is not None:
            raise TypeError(
                f"{what} must be strings (as in TREC files), got {bad!r} of type {type(bad).__name__}"
            )


def evaluate_run(run: dict[str, dict[str, float]], qrels: dict[str, dict[str, int]]) -> RankingResult:
    """MAP@10, nDCG@10, Recall@1000 and MRR@10 of a run, as trec_eval with `-c`.

    map@10 = trec_eval map_cut_10 (divides by all relevant passages of the query),
    ndcg@10 = ndcg_cut_10 (gains = grades), recall@1000 = recall_1000,
    mrr@10 = recip_rank of the run cut at rank 10.
    """
    _check_str_ids(run, qrels)
    per_query, skipped, missing = {}, 0, 0
    for qid, grades in qrels.items():
        if not any(g >= 1 for g in grades.values()):
            skipped += 1
            continue
        missing += qid not in run
        per_query[qid] = query_metrics(run.get(qid, {}), grades)
    if not per_query:
        raise ValueError("no query of the qrels has a relevant passage (grade >= 1): nothing to evaluate")
    means = {m: float(np.mean([v[m] for v in per_query.values()])) for m in MEASURES}
    unjudged = sum(qid not in qrels for qid in run)
    return RankingResult(means, per_query, len(per_query), skipped, missing, unjudged)
