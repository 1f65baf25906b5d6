"""Batches larger than memory: activation checkpointing of the encoder, and GradCache.

GradCache (Gao et al., "Scaling Deep Contrastive Learning Batch Size under Memory Limited Setup",
2021) embeds a batch chunk by chunk without autograd graphs, lets the contrastive loss and its
gradient with respect to the embeddings be computed on the whole batch, then encodes each chunk
again with a graph and back-propagates that chunk's share of the embedding gradient. Only one
chunk's activations are held at a time; the loss and every gradient are those of the whole batch.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn


def checkpoint_activations(encoder: nn.Module) -> None:
    """Turn on Hugging Face activation (gradient) checkpointing in ``encoder``: each layer's
    activations are recomputed in the backward pass instead of kept. Non-reentrant checkpointing,
    so it composes with DDP, GradCache's ``torch.autograd.grad`` and dropout (its RNG is replayed)."""
    if not getattr(encoder, "supports_gradient_checkpointing", False):
        raise ValueError(f"training.gradient_checkpointing=true: {type(encoder).__name__} does not support "
                         f"activation checkpointing; set training.gradient_checkpointing=false")
    enable = getattr(encoder, "activation_checkpointing_enable", None) or encoder.gradient_checkpointing_enable
    enable({"use_reentrant": False})  # transformers >= 5.x names it activation_checkpointing_enable


def _rng_state(device: torch.device) -> tuple:
    return torch.get_rng_state(), torch.cuda.get_rng_state(device) if device.type == "cuda" else None


def _set_rng_state(state: tuple, device: torch.device) -> None:
    torch.set_rng_state(state[0])
    if state[1] is not None:
        torch.cuda.set_rng_state(state[1], device)


class _CachedEmbeddings(torch.autograd.Function):
    """Forward: the chunks' embeddings, computed without graphs (a Function's forward runs under
    no_grad), with the RNG state before each chunk kept. Backward: each chunk encoded again from its
    RNG state, under the forward's autocast, and its gradient taken with ``torch.autograd.grad``;
    the parameters' gradients are summed over chunks and returned, so each parameter receives one
    gradient per backward pass (as DDP's reducer expects) and the global RNG is left untouched."""

    @staticmethod
    def forward(ctx, encode: Callable, ids: torch.Tensor, mask: torch.Tensor, chunk_size: int, *params):
        device = ids.device
        ctx.encode, ctx.params, ctx.chunk_size, ctx.device = encode, params, chunk_size, device
        ctx.chunks = list(zip(ids.split(chunk_size), mask.split(chunk_size)))
        ctx.autocast = (torch.is_autocast_enabled(device.type), torch.get_autocast_dtype(device.type))
        ctx.rng_states, embeddings = [], []
        for chunk_ids, chunk_mask in ctx.chunks:
            ctx.rng_states.append(_rng_state(device))
            embeddings.append(encode(chunk_ids, chunk_mask))
        return torch.cat(embeddings)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        device, (autocast_on, autocast_dtype) = ctx.device, ctx.autocast
        sums: list[torch.Tensor | None] = [None] * len(ctx.params)
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []), torch.enable_grad(), \
                torch.autocast(device.type, dtype=autocast_dtype, enabled=autocast_on):
            for (chunk_ids, chunk_mask), state, chunk_grad in zip(ctx.chunks, ctx.rng_states, grad.split(ctx.chunk_size)):
                _set_rng_state(state, device)
                embeddings = ctx.encode(chunk_ids, chunk_mask)
                grads = torch.autograd.grad(embeddings, ctx.params, chunk_grad.to(embeddings.dtype), allow_unused=True)
                sums = [g if s is None else s if g is None else s.add_(g) for s, g in zip(sums, grads)]
        return (None, None, None, None, *sums)


def cached_encode(model: nn.Module, ids: torch.Tensor, mask: torch.Tensor, chunk_size: int) -> torch.Tensor:
    """``model.encode(ids, mask)`` computed GradCache's way, ``chunk_size`` texts at a time: equal
    values, and the backward pass gives every trainable parameter of ``model`` the same gradient
    as the whole-batch encode would, holding one chunk's activations at a time."""
    params = [p for p in model.parameters() if p.requires_grad]
    return _CachedEmbeddings.apply(model.encode, ids, mask, chunk_size, *params)
