"""Score any BiEncoder on an evaluation material: contrastive entropy with its CI, ranking metrics
over the subcorpus, and the protocol's sizes. Under torch.distributed every process encodes its
share of the texts (encode.py) and scores the gathered embeddings: the same numbers on every rank."""
from __future__ import annotations

from contextlib import nullcontext

import numpy as np
import torch

from dense_scaling.evaluation.encode import encode_texts
from dense_scaling.evaluation.material import EvalMaterial
from dense_scaling.metrics import ContrastiveEntropyResult, RankingResult, contrastive_entropy, evaluate_run, search
from dense_scaling.model.biencoder import BiEncoder
from dense_scaling.results import CEPart, RankingPart


class Evaluator:
    """Scores models on one ``material``, encoding ``batch_size`` texts at a time and keeping the
    ``top_k`` passages of each query's ranking."""

    def __init__(self, material: EvalMaterial, batch_size: int = 256, top_k: int = 1000):
        self.material, self.batch_size, self.top_k = material, batch_size, top_k
        self._drawn = np.unique(material.negatives)  # the pool positions some pair meets

    @property
    def subcorpus(self):
        return self.material.subcorpus

    def describe(self) -> dict:
        """The protocol's sizes, for results.json's ``ce``."""
        return self.material.sizes()

    def _encode(self, model: BiEncoder, tokens, rows, context, what: str):
        return encode_texts(model, tokens, rows, self.batch_size, context, f"{self.material.label} {what}")

    def contrastive_entropy(self, model: BiEncoder, context=nullcontext) -> ContrastiveEntropyResult:
        """CE of every pair against its fixed negatives (paper Eq. 5), with a bootstrap CI. Only the
        pool passages drawn as negatives are encoded (the others' rows stay zero, never read)."""
        m = self.material
        queries = self._encode(model, m.tokens.queries, m.pairs[:, 0], context, "queries")
        positives = self._encode(model, m.tokens.corpus, m.pairs[:, 1], context, "positives")
        pool = torch.zeros(len(m.pool), queries.shape[1])
        pool[torch.from_numpy(self._drawn)] = self._encode(model, m.tokens.corpus, m.pool[self._drawn], context,
                                                           "negative pool")
        return contrastive_entropy(queries, positives, pool, m.negatives, temperature=model.temperature)

    def ranking(self, model: BiEncoder, context=nullcontext) -> tuple[RankingResult, dict[str, dict[str, float]]]:
        """Exact search of the split's queries over the subcorpus; the metrics and the run."""
        m = self.material
        if m.qrels is None:
            raise ValueError(f"the {m.label} material was built without qrels: ranking needs them")
        rows = m.ranked_query_rows
        queries = self._encode(model, m.tokens.queries, rows, context, "queries")
        passages = self._encode(model, m.tokens.corpus, m.subcorpus, context, "subcorpus")
        run = search(queries, passages, [m.query_ids[i] for i in rows], [m.corpus_ids[i] for i in m.subcorpus],
                     k=self.top_k)
        return evaluate_run(run, m.qrels), run

    def score(self, model: BiEncoder, context=nullcontext) -> tuple[CEPart, RankingPart, dict[str, dict[str, float]]]:
        """The record of one model: CE with its CI and the sizes, the ranking metrics, and the run."""
        ce = self.contrastive_entropy(model, context)
        ranking, run = self.ranking(model, context)
        part = RankingPart.from_json({**ranking.as_dict(), "subcorpus_size": len(self.subcorpus), "top_k": self.top_k})
        return CEPart(reported=ce.mean, reported_ci95=list(ce.ci95), **self.describe()), part, run
