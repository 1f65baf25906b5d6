"""The paper's contrastive loss (Eq. 3) with masking of accidental positives."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def contrastive_loss(
    scores: torch.Tensor, positive_mask: torch.Tensor, in_batch_negatives: bool = True
) -> torch.Tensor:
    """Mean cross-entropy of each query's positive among its candidates.

    ``scores`` is ``[B, B+K]``: column i < B is query i's own positive, the first B columns are
    the batch's positives, the last K the shared random negatives. ``positive_mask[i, j]`` marks
    candidates labelled relevant to query i; those other than column i are never scored as its
    negatives. Without ``in_batch_negatives`` the other queries' positives are left out too.
    """
    batch = scores.shape[0]
    own = torch.arange(batch, device=scores.device)
    excluded = positive_mask.clone()
    if not in_batch_negatives:
        excluded[:, :batch] = True
    excluded[own, own] = False
    scores = scores.float().masked_fill(excluded, float("-inf"))
    return F.cross_entropy(scores, own)
