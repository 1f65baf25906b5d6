"""Embeddings of tokenised texts, batched by length."""
from __future__ import annotations

from contextlib import nullcontext
from typing import Callable, ContextManager

import numpy as np
import torch
from tqdm.auto import tqdm

from dense_scaling.data.token_cache import TokenizedTexts
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
