"""Evaluation on embeddings: contrastive entropy (paper Eq. 5) and ranking metrics.

Nothing here knows about models or Lightning: callers pass embeddings (torch or numpy) and ids.
See docs/metrics.md for the definitions and the protocol.
"""

from dense_scaling.metrics.bootstrap import bootstrap_ci
from dense_scaling.metrics.contrastive_entropy import (
    ContrastiveEntropy,
    ContrastiveEntropyResult,
    contrastive_entropy,
    per_pair_contrastive_entropy,
)
from dense_scaling.metrics.ranking import MEASURES, RankingResult, evaluate_run, query_metrics, search, trec_order
from dense_scaling.metrics.sampling import build_negative_pool, build_subcorpus, sample_negatives
from dense_scaling.metrics.trec_io import read_run, write_run

__all__ = [
    "MEASURES",
    "ContrastiveEntropy",
    "ContrastiveEntropyResult",
    "RankingResult",
    "bootstrap_ci",
    "build_negative_pool",
    "build_subcorpus",
    "contrastive_entropy",
    "evaluate_run",
    "per_pair_contrastive_entropy",
    "query_metrics",
    "read_run",
    "sample_negatives",
    "search",
    "trec_order",
    "write_run",
]
