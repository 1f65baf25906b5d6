"""The evaluation material of a split: pairs, negative pool, sampled negatives, ranking subcorpus
and qrels, built from a RetrievalData, its token cache and a seed alone (no Lightning object).

The material depends only on the data and ``seed``, never on a model, so every model of a sweep
is scored against the same passages (common random numbers).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dense_scaling.data.pairs import relevant_pairs
from dense_scaling.data.readers import Qrels, RetrievalData
from dense_scaling.data.token_cache import Tokens
from dense_scaling.metrics import build_negative_pool, build_subcorpus, sample_negatives


@dataclass(frozen=True)
class EvalMaterial:
    """What a split is scored on. ``pairs`` [n, 2] are (query row, corpus row) pairs scored by
    contrastive entropy against ``negatives`` [n, R, K] (positions in ``pool``, whose entries are corpus rows);
    ``subcorpus`` (corpus rows) is ranked for the queries of ``qrels``, or None without qrels."""

    label: str
    pairs: np.ndarray
    pool: np.ndarray
    negatives: np.ndarray
    subcorpus: np.ndarray | None
    qrels: Qrels | None
    tokens: Tokens
    corpus_ids: list[str]
    query_ids: list[str]

    @property
    def ranked_query_rows(self) -> np.ndarray:
        """The query rows ranked: those of the qrels, in query order."""
        return np.asarray([i for i, q in enumerate(self.query_ids) if q in (self.qrels or {})], dtype=np.int64)

    def sizes(self) -> dict:
        """The protocol's sizes, for results.json's ``ce``."""
        return {"K": self.negatives.shape[2], "R": self.negatives.shape[1], "pool_size": len(self.pool),
                "num_pairs": len(self.pairs), "subcorpus_size": None if self.subcorpus is None else len(self.subcorpus)}


def build_material(
    data: RetrievalData,
    tokens: Tokens,
    pairs: np.ndarray,
    qrels: Qrels | None = None,
    num_negatives: int = 256,
    repeats: int = 10,
    pool_size: int | None = 1_000_000,
    subcorpus_size: int = 100_000,
    seed: int = 0,
    label: str = "test",
) -> EvalMaterial:
    """The material for ``pairs`` (and ranking against ``qrels`` if given). Negatives and the
    subcorpus come from the evaluation passages (``data.num_eval_passages``); every positive of
    ``qrels`` and ``pairs`` is kept out of the pool."""
    corpus_index = data.corpus_index if qrels else {}
    judged = [corpus_index[p] for grades in (qrels or {}).values() for p, g in grades.items() if g >= 1]
    eval_rows = data.num_eval_passages
    positives = np.union1d(pairs[:, 1], np.asarray(judged, dtype=np.int64))
    positives = positives[positives < eval_rows]  # training-only passages are never candidates
    pool = build_negative_pool(eval_rows, positives, pool_size, seed)
    negatives = sample_negatives(len(pool), len(pairs), min(num_negatives, len(pool)), repeats, seed)
    subcorpus = build_subcorpus(eval_rows, positives, subcorpus_size, seed) if qrels else None
    return EvalMaterial(label, pairs, pool, negatives, subcorpus, qrels, tokens, data.corpus_ids, data.query_ids)


def test_material(data: RetrievalData, tokens: Tokens, split: str = "test", **settings) -> EvalMaterial:
    """CE on the test split's pairs, ranking against its qrels."""
    return build_material(data, tokens, relevant_pairs(data, split), data.split(split), label="test", **settings)


def val_material(data: RetrievalData, tokens: Tokens, pairs: np.ndarray, **settings) -> EvalMaterial | None:
    """CE only, on validation pairs carved from training; None without them."""
    return build_material(data, tokens, pairs, label="val", **settings) if len(pairs) else None
