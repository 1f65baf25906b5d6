"""Contrastive entropy (paper Eq. 5) on embeddings, as a function and a torchmetrics Metric.

For a test pair (q, p+) and one draw of K negatives n_1..n_K from the negative pool:

    CE = -log( exp(s(q,p+)/T) / (exp(s(q,p+)/T) + sum_k exp(s(q,n_k)/T)) ),   s = inner product

averaged over R independent draws per pair, then over pairs. The draws come from
`sampling.sample_negatives` (seeded by the data set, not the model), so every model of a sweep
sees the same negatives. No Python loop over pairs: pairs are scored in chunks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat

from dense_scaling.metrics.bootstrap import bootstrap_ci

# Below this pool size (in units of R*K) scoring every pool passage with one matmul and
# picking the drawn ones beats gathering the drawn embeddings (measured break-even ~36 on a
# 2-core AVX2 CPU; about the same ratio of matmul FLOP/s to memory bandwidth on a GPU).
_MATMUL_MAX_POOL_PER_DRAW = 32
_CHUNK_ELEMENTS = 2**24  # float32 elements of the per-chunk buffer (64 MB)
# Drawn embeddings are gathered a block at a time and scored while the block is in cache: on a CPU
# 2^18 floats (1 MB; 256-512 rows of 768 scored at 1.1-1.2x a bare gather of the same bytes, a
# 64 MB block at 1.6-2.2x); elsewhere 64 MB blocks (few kernel launches matter more).
_GATHER_BLOCK_ELEMENTS = {"cpu": 2**18}
_ROW_ALIGN = 16  # score rows padded to a multiple of 16 floats: aligned GEMM stores (~20% faster on AVX2)
_METHODS = ("auto", "matmul", "gather")


@dataclass(frozen=True)
class ContrastiveEntropyResult:
    """Mean CE over pairs, per-pair CE (mean over repeats) and a 95% bootstrap interval."""

    mean: float
    per_pair: np.ndarray
    ci95: tuple[float, float]


def _matrix(x, name: str) -> Tensor:
    t = torch.as_tensor(x)
    if t.dim() != 2:
        raise ValueError(f"{name} must be 2-D [rows, dim], got shape {tuple(t.shape)}")
    return t.float()


def _draws(negative_idx, num_pairs: int, pool_size: int, device) -> Tensor:
    """negative_idx as int64 [n, R, K] on `device`, checked against the pairs and the pool."""
    idx = torch.as_tensor(negative_idx, device=device).long()
    if idx.dim() == 2:
        idx = idx.unsqueeze(1)
    if idx.dim() != 3 or idx.shape[0] != num_pairs:
        raise ValueError(
            f"negative_idx must be [num_pairs={num_pairs}, repeats, K] (or [num_pairs, K]), "
            f"got shape {tuple(idx.shape)}"
        )
    if idx.numel() and (idx.min() < 0 or idx.max() >= pool_size):
        raise ValueError(f"negative_idx must index the pool rows 0..{pool_size - 1}")
    return idx


def _per_pair(pos: Tensor, neg: Tensor) -> Tensor:
    """CE per pair from positive logits [c] and negative logits [c, R, K], mean over R."""
    pos = pos[:, None]
    return (torch.logaddexp(torch.logsumexp(neg, dim=2), pos) - pos).mean(dim=1)


def _check_pairs(query: Tensor, positive: Tensor, temperature: float) -> None:
    if query.shape != positive.shape:
        raise ValueError(
            f"query_emb and positive_emb must have the same shape [num_pairs, dim], got "
            f"{tuple(query.shape)} and {tuple(positive.shape)}"
        )
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")


@torch.no_grad()
def per_pair_contrastive_entropy(
    query_emb,
    positive_emb,
    pool_emb,
    negative_idx,
    temperature: float = 1.0,
    chunk_size: int | None = None,
    method: str = "auto",
) -> Tensor:
    """CE of each pair, averaged over repeats: float32 tensor [num_pairs].

    query_emb, positive_emb: [n, d]; pool_emb: [P, d], the embedded negative pool;
    negative_idx: [n, R, K] (or [n, K]) rows of pool_emb, from `sample_negatives`.
    `method`: "matmul" scores each chunk of queries against the whole pool and picks the
    drawn negatives (cheap when P is small), "gather" gathers the R*K drawn embeddings of each
    pair (cheap when P is large); "auto" picks by P vs R*K. `chunk_size` pairs per chunk
    (default: a 64 MB buffer).
    """
    query, positive = _matrix(query_emb, "query_emb"), _matrix(positive_emb, "positive_emb")
    pool = _matrix(pool_emb, "pool_emb")
    _check_pairs(query, positive, temperature)
    if pool.shape[1] != query.shape[1]:
        raise ValueError(f"pool_emb has dim {pool.shape[1]}, queries have dim {query.shape[1]}")
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    idx = _draws(negative_idx, query.shape[0], pool.shape[0], query.device)
    query = query / temperature  # every score is divided by the temperature
    draws = idx.shape[1] * idx.shape[2]
    if method == "auto":
        method = "matmul" if pool.shape[0] <= _MATMUL_MAX_POOL_PER_DRAW * draws else "gather"
    if method == "matmul":  # zero rows never drawn: they only align the score matrix's rows
        pool = torch.cat([pool, pool.new_zeros(-pool.shape[0] % _ROW_ALIGN, pool.shape[1])])
        chunk = chunk_size or max(1, _CHUNK_ELEMENTS // pool.shape[0])
        # One buffer for the whole call: a fresh large block per chunk costs page faults.
        buffer = pool.new_empty(min(chunk, query.shape[0]), pool.shape[0])

        def scores(q: Tensor, flat: Tensor) -> Tensor:
            return torch.matmul(q, pool.T, out=buffer[: len(q)]).gather(1, flat)
    else:
        chunk = chunk_size or max(1, _CHUNK_ELEMENTS // draws)
        block = max(1, _GATHER_BLOCK_ELEMENTS.get(pool.device.type, _CHUNK_ELEMENTS) // pool.shape[1])
        buffer = pool.new_empty(block, pool.shape[1])

        def scores(q: Tensor, flat: Tensor) -> Tensor:
            return _gathered_scores(q, flat, pool, buffer)
    out = []
    for start in range(0, query.shape[0], chunk):
        q, i = query[start : start + chunk], idx[start : start + chunk]
        neg = scores(q, i.reshape(i.shape[0], -1))
        pos = (q * positive[start : start + chunk]).sum(dim=1)
        out.append(_per_pair(pos, neg.view(i.shape)))
    return torch.cat(out) if out else query.new_zeros(0)


def _gathered_scores(query: Tensor, flat: Tensor, pool: Tensor, buffer: Tensor) -> Tensor:
    """Scores [c, m] of each query against its m drawn pool rows ``flat`` [c, m], gathered into
    ``buffer`` (a block of rows) and scored while they are in cache: several pairs a block when a
    pair's draws fit in it, else a block of one pair's draws at a time."""
    out = query.new_empty(flat.shape)
    block, draws = buffer.shape[0], flat.shape[1]
    if draws <= block:
        per = block // draws
        for start in range(0, len(flat), per):
            f = flat[start : start + per]
            rows = torch.index_select(pool, 0, f.reshape(-1), out=buffer[: f.numel()])
            out[start : start + per] = torch.einsum("cd,cmd->cm", query[start : start + per], rows.view(*f.shape, -1))
        return out
    for j in range(len(flat)):
        for start in range(0, draws, block):
            f = flat[j, start : start + block]
            torch.mv(torch.index_select(pool, 0, f, out=buffer[: len(f)]), query[j], out=out[j, start : start + len(f)])
    return out


def _result(per_pair: Tensor, ci_resamples: int, ci_seed: int) -> ContrastiveEntropyResult:
    values = per_pair.detach().cpu().double().numpy()
    if values.size == 0:
        raise ValueError("no pairs to average: contrastive entropy needs at least one test pair")
    return ContrastiveEntropyResult(
        mean=float(values.mean()), per_pair=values, ci95=bootstrap_ci(values, ci_resamples, ci_seed)
    )


def contrastive_entropy(
    query_emb,
    positive_emb,
    pool_emb,
    negative_idx,
    temperature: float = 1.0,
    chunk_size: int | None = None,
    method: str = "auto",
    ci_resamples: int = 1000,
    ci_seed: int = 0,
) -> ContrastiveEntropyResult:
    """Contrastive entropy of the test pairs: mean, per-pair values and bootstrap 95% CI.

    Arguments as `per_pair_contrastive_entropy`; the interval resamples pairs
    (`ci_resamples` times, seeded by `ci_seed`).
    """
    per_pair = per_pair_contrastive_entropy(
        query_emb, positive_emb, pool_emb, negative_idx, temperature, chunk_size, method
    )
    return _result(per_pair, ci_resamples, ci_seed)


class ContrastiveEntropy(Metric):
    """Streaming contrastive entropy: `update` per batch of pairs, `compute` the mean.

    `update(query_emb [b, d], positive_emb [b, d], negative_emb)` takes either the drawn
    negative embeddings, [b, R, K, d] (R repeats) or [b, K, d] (one draw), or, with
    `negative_idx=[b, R, K]` (rows of `sample_negatives` for this batch), the embedded pool
    [P, d] as `negative_emb`, which avoids materialising b*R*K*d floats.
    Per-pair values are kept and concatenated across processes (dist_reduce_fx="cat"), so
    the mean is over pairs whatever the sharding. `result()` adds the per-pair values and the
    bootstrap CI.
    """

    is_differentiable = False
    higher_is_better = False
    full_state_update = False

    def __init__(self, temperature: float = 1.0, **kwargs) -> None:
        super().__init__(**kwargs)
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.temperature = temperature
        self.add_state("per_pair", default=[], dist_reduce_fx="cat")

    @torch.no_grad()
    def update(
        self, query_emb: Tensor, positive_emb: Tensor, negative_emb: Tensor, negative_idx: Tensor | None = None
    ) -> None:
        if negative_idx is not None:
            values = per_pair_contrastive_entropy(
                query_emb, positive_emb, negative_emb, negative_idx, self.temperature
            )
        else:
            query, positive = _matrix(query_emb, "query_emb"), _matrix(positive_emb, "positive_emb")
            _check_pairs(query, positive, self.temperature)
            neg = torch.as_tensor(negative_emb).float()
            if neg.dim() == 3:
                neg = neg.unsqueeze(1)
            if neg.dim() != 4 or neg.shape[0] != query.shape[0] or neg.shape[3] != query.shape[1]:
                raise ValueError(
                    f"negative_emb must be [b={query.shape[0]}, R, K, d={query.shape[1]}] or "
                    f"[b, K, d] (or the pool [P, d] with negative_idx), got {tuple(neg.shape)}"
                )
            query = query / self.temperature
            values = _per_pair((query * positive).sum(dim=1), torch.einsum("bd,brkd->brk", query, neg))
        self.per_pair.append(values)

    def compute(self) -> Tensor:
        return dim_zero_cat(self.per_pair).mean()

    def result(self, ci_resamples: int = 1000, ci_seed: int = 0) -> ContrastiveEntropyResult:
        """Mean, per-pair values and bootstrap 95% CI over every process's pairs."""
        with self.sync_context():
            values = dim_zero_cat(self.per_pair)
        return _result(values, ci_resamples, ci_seed)
