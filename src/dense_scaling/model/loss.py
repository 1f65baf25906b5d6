"""The paper's contrastive loss (Eq. 3) with masking of accidental positives."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def contrastive_loss(
    scores: torch.Tensor,
    positive_mask: torch.Tensor,
    in_batch_negatives: bool = True,
    first_query: int = 0,
    num_positives: int | None = None,
) -> torch.Tensor:
    """Mean cross-entropy of each query's positive among its candidates.

    ``scores`` is ``[b, B+K]`` for b of the batch's B queries, from query ``first_query`` on (on
    one device b = B and ``first_query`` = 0; a data-parallel rank holds a share). Column j < B
    is query j's own positive, the first B columns (``num_positives``, default b) are the batch's
    positives, the last K the shared random negatives. ``positive_mask[i, j]`` marks candidates
    labelled relevant to query i; those other than its own column are never scored as its
    negatives. Without ``in_batch_negatives`` the other queries' positives are left out too.
    """
    rows = torch.arange(scores.shape[0], device=scores.device)
    own = rows + first_query
    excluded = positive_mask.clone()
    if not in_batch_negatives:
        excluded[:, : num_positives or scores.shape[0]] = True
    excluded[rows, own] = False
    scores = scores.float().masked_fill(excluded, float("-inf"))
    return F.cross_entropy(scores, own)
