"""Embeddings of tokenised texts, batched by length, sharded across data-parallel processes."""
from __future__ import annotations

from contextlib import nullcontext
from typing import Callable, ContextManager

import numpy as np
import torch
import torch.distributed as dist
from tqdm.auto import tqdm

from dense_scaling.data.token_cache import TokenizedTexts
from dense_scaling.model.biencoder import BiEncoder


def rank_and_world() -> tuple[int, int]:
    """This process's rank and the number of processes (0, 1 outside torch.distributed)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


@torch.no_grad()
def encode_texts(
    model: BiEncoder,
    tokens: TokenizedTexts,
    rows: np.ndarray,
    batch_size: int = 256,
    context: Callable[[], ContextManager] = nullcontext,
    desc: str = "encoding",
) -> torch.Tensor:
    """Embeddings (float32, on the CPU, in ``rows`` order) of texts ``rows``, batched by length to pad little.

    Under torch.distributed every process of the default group must call it with the same
    arguments: the length-sorted batches are dealt out in turn (batch i to rank i % world), each
    rank encodes its own and every round of ``world`` batches is all-gathered, so each rank ends
    with all embeddings, bit-identical to one process's (the same batches, the same kernels) and
    no rank waits longer than one batch for the others.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    rank, world = rank_and_world()
    order = np.argsort(tokens.lengths()[rows], kind="stable")
    batches = [order[start : start + batch_size] for start in range(0, len(rows), batch_size)]
    out = torch.empty(len(rows), model.projection.out_features)
    with tqdm(total=len(rows), desc=desc, unit="text", delay=2.0, disable=rank != 0) as bar:
        for first in range(0, len(batches), world):
            round_ = batches[first : first + world]
            mine = torch.zeros(batch_size, out.shape[1], device=device)  # padded: all_gather takes equal shapes
            if rank < len(round_):
                ids, mask = tokens.batch(rows[round_[rank]])
                with context():
                    mine[: len(round_[rank])] = model.encode(ids.to(device), mask.to(device)).float()
            gathered = [mine] if world == 1 else [torch.empty_like(mine) for _ in range(world)]
            if world > 1:
                dist.all_gather(gathered, mine)
            for chunk, embedded in zip(round_, gathered):
                out[torch.from_numpy(chunk)] = embedded[: len(chunk)].cpu()
            bar.update(sum(len(chunk) for chunk in round_))
    model.train(was_training)
    return out
