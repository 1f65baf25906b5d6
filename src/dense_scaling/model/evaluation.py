"""Score a BiEncoder on a split: contrastive entropy against fixed negatives, ranking on a subcorpus.

The negatives, the pool and the subcorpus depend only on the data and ``seed``, never on the
model, so every model of a sweep is scored against the same passages (common random numbers).
"""
from __future__ import annotations

from contextlib import nullcontext
from typing import Callable, ContextManager

import numpy as np
import torch
from tqdm.auto import tqdm

from dense_scaling.data.datamodule import RetrievalDataModule
from dense_scaling.data.pairs import relevant_pairs
from dense_scaling.data.readers import Qrels
from dense_scaling.data.token_cache import TokenizedTexts
from dense_scaling.metrics import (
    ContrastiveEntropyResult,
    RankingResult,
    build_negative_pool,
    build_subcorpus,
    contrastive_entropy,
    evaluate_run,
    sample_negatives,
    search,
)
from dense_scaling.model.biencoder import BiEncoder


@torch.no_grad()
def encode_texts(
    model: BiEncoder,
    tokens: TokenizedTexts,
    rows: np.ndarray,
    batch_size: int = 256,
    context: Callable[[], ContextManager] = nullcontext,
    desc: str = "encoding",
) -> torch.Tensor:
    """Embeddings (float32, in ``rows`` order) of texts ``rows``, batched by length to pad little."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    order = np.argsort(tokens.lengths()[rows], kind="stable")
    out = torch.empty(len(rows), model.projection.out_features)
    with tqdm(total=len(rows), desc=desc, unit="text", delay=2.0) as bar:
        for start in range(0, len(rows), batch_size):
            chunk = order[start : start + batch_size]
            ids, mask = tokens.batch(rows[chunk])
            with context():
                out[torch.from_numpy(chunk)] = model.encode(ids.to(device), mask.to(device)).float().cpu()
            bar.update(len(chunk))
    model.train(was_training)
    return out


class RetrievalEvaluator:
    """Fixed evaluation material for one split of a data set, and the scoring of a model on it.

    ``pairs`` [n, 2] are the (query row, corpus row) pairs scored by contrastive entropy;
    ``qrels`` (graded, by id) are the judgements the ranking is scored against, or None to
    skip ranking. Negatives and the ranking subcorpus come from the first ``num_eval_passages``
    corpus rows (default: all); every positive of ``qrels`` and ``pairs`` is kept out of the pool.
    """

    def __init__(
        self,
        pairs: np.ndarray,
        corpus_tokens: TokenizedTexts,
        query_tokens: TokenizedTexts,
        corpus_ids: list[str],
        query_ids: list[str],
        qrels: Qrels | None = None,
        num_negatives: int = 256,
        repeats: int = 10,
        pool_size: int | None = 1_000_000,
        subcorpus_size: int = 100_000,
        top_k: int = 1000,
        seed: int = 0,
        batch_size: int = 256,
        label: str = "test",
        num_eval_passages: int | None = None,
    ):
        self.pairs, self.corpus_tokens, self.query_tokens = pairs, corpus_tokens, query_tokens
        self.corpus_ids, self.query_ids, self.qrels = corpus_ids, query_ids, qrels
        self.top_k, self.batch_size, self.label = top_k, batch_size, label
        corpus_index = {pid: i for i, pid in enumerate(corpus_ids)} if qrels else {}
        judged = [corpus_index[p] for grades in (qrels or {}).values() for p, g in grades.items() if g >= 1]
        eval_rows = len(corpus_tokens) if num_eval_passages is None else num_eval_passages
        positives = np.union1d(pairs[:, 1], np.asarray(judged, dtype=np.int64))
        positives = positives[positives < eval_rows]  # training-only passages are never candidates
        self.pool = build_negative_pool(eval_rows, positives, pool_size, seed)
        self.num_negatives = min(num_negatives, len(self.pool))
        self.repeats = repeats
        self.negatives = sample_negatives(len(self.pool), len(pairs), self.num_negatives, repeats, seed)
        self.subcorpus = build_subcorpus(eval_rows, positives, subcorpus_size, seed) if qrels else None

    def describe(self) -> dict:
        """The protocol's sizes, for results.json."""
        return {"K": self.num_negatives, "R": self.repeats, "pool_size": len(self.pool), "num_pairs": len(self.pairs),
                "subcorpus_size": None if self.subcorpus is None else len(self.subcorpus)}

    def contrastive_entropy(self, model: BiEncoder, context=nullcontext) -> ContrastiveEntropyResult:
        """CE of every pair against its fixed negatives (paper Eq. 5), with a bootstrap CI."""
        encode = lambda tokens, rows, what: encode_texts(  # noqa: E731
            model, tokens, rows, self.batch_size, context, f"{self.label} {what}"
        )
        queries = encode(self.query_tokens, self.pairs[:, 0], "queries")
        positives = encode(self.corpus_tokens, self.pairs[:, 1], "positives")
        pool = encode(self.corpus_tokens, self.pool, "negative pool")
        return contrastive_entropy(queries, positives, pool, self.negatives, temperature=model.temperature)

    def ranking(self, model: BiEncoder, context=nullcontext) -> tuple[RankingResult, dict[str, dict[str, float]]]:
        """Exact search of the split's queries over the subcorpus; the metrics and the run."""
        if self.qrels is None:
            raise ValueError(f"the {self.label} evaluator was built without qrels: ranking needs them")
        query_rows = np.asarray([i for i, q in enumerate(self.query_ids) if q in self.qrels])
        queries = encode_texts(model, self.query_tokens, query_rows, self.batch_size, context, f"{self.label} queries")
        passages = encode_texts(model, self.corpus_tokens, self.subcorpus, self.batch_size, context,
                                f"{self.label} subcorpus")
        run = search(queries, passages, [self.query_ids[i] for i in query_rows],
                     [self.corpus_ids[i] for i in self.subcorpus], k=self.top_k)
        return evaluate_run(run, self.qrels), run


def test_evaluator(datamodule: RetrievalDataModule, **settings) -> RetrievalEvaluator:
    """Scores models on the data's test split: CE on its pairs, ranking against its qrels."""
    datamodule.prepare()
    data = datamodule.data
    return RetrievalEvaluator(
        relevant_pairs(data, datamodule.test_split), datamodule.corpus_tokens, datamodule.query_tokens,
        data.corpus_ids, data.query_ids, data.split(datamodule.test_split), label="test",
        num_eval_passages=data.num_eval_passages, **settings,
    )


def val_evaluator(datamodule: RetrievalDataModule, **settings) -> RetrievalEvaluator | None:
    """Scores models on the validation pairs carved from training (CE only); None without them."""
    if not len(datamodule.pairs.val):
        return None
    data = datamodule.data
    return RetrievalEvaluator(
        datamodule.pairs.val, datamodule.corpus_tokens, datamodule.query_tokens, data.corpus_ids, data.query_ids,
        label="val", num_eval_passages=data.num_eval_passages, **settings,
    )
