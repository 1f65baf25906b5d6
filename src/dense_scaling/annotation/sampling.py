"""Top-k / top-p sampling in which every generated row draws from its own seed.

``generate(do_sample=True)`` draws every row from one global random stream, so what a passage
gets depends on the passages batched with it and on what ran before. Here row ``r`` at decoding
step ``t`` draws ``u = hash(seed_r, t)`` from a counter-based hash, so its tokens depend only on
its own seed and logits: resuming a job, or changing the batch size, gives the same queries
(up to floating-point differences between batch shapes).
"""
from __future__ import annotations

import torch
from transformers import LogitsProcessor

_MASK = 0xFFFFFFFF


def _hash32(x: torch.Tensor) -> torch.Tensor:
    """A 32-bit integer mix of int64 values below 2**32 (no overflow: products stay below 2**59)."""
    for _ in range(2):
        x = (((x >> 16) ^ x) * 0x45D9F3B) & _MASK
    return (x >> 16) ^ x


def row_uniforms(row_seeds: torch.Tensor, step: int) -> torch.Tensor:
    """One number in [0, 1) per row for decoding step ``step``, from the row's seed alone."""
    mixed = _hash32((_hash32(row_seeds & _MASK) + step * 0x9E3779B9) & _MASK)
    return mixed.to(torch.float64) / 2.0**32


class SeededSampler(LogitsProcessor):
    """Samples each row's next token (temperature, then top-k, then top-p) and returns scores
    that allow only that token, so that ``generate`` (greedy or sampling) must take it.

    Make a new one for every ``generate`` call: it counts steps from its first call.
    """

    def __init__(self, row_seeds: list[int], top_k: int = 0, top_p: float = 1.0, temperature: float = 1.0):
        if temperature <= 0 or not 0 < top_p <= 1:
            raise ValueError(f"temperature={temperature} must be > 0 and top_p={top_p} in (0, 1]")
        self.row_seeds = torch.tensor(row_seeds, dtype=torch.int64)
        self.top_k, self.top_p, self.temperature = top_k, top_p, temperature
        self._first_length: int | None = None

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if self._first_length is None:
            self._first_length = input_ids.shape[1]
        step = input_ids.shape[1] - self._first_length
        k = min(self.top_k, scores.shape[-1]) if self.top_k > 0 else scores.shape[-1]
        logits, token_ids = (scores.float() / self.temperature).topk(k, dim=-1)  # sorted, best first
        probs = logits.softmax(dim=-1)
        if self.top_p < 1.0:  # keep the smallest prefix whose mass reaches top_p
            probs = probs.masked_fill(probs.cumsum(dim=-1) - probs >= self.top_p, 0.0)
        cdf = probs.cumsum(dim=-1)
        u = row_uniforms(self.row_seeds.to(scores.device), step).to(cdf.dtype)
        choice = (cdf < u[:, None] * cdf[:, -1:]).sum(dim=-1).clamp(max=k - 1)
        chosen = token_ids.gather(-1, choice[:, None])
        return torch.full_like(scores, float("-inf")).scatter_(-1, chosen, 0.0)
