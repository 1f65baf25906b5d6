"""Gathering embeddings across data-parallel ranks, with gradients, so that every rank's queries
are scored against the whole global batch's candidates (as on one device)."""
from __future__ import annotations

import torch
import torch.distributed as dist


class _GatherWithGradient(torch.autograd.Function):
    """Forward: every rank's rows, concatenated in rank order. Backward: each rank's loss gives a
    gradient for all rows; summing them across ranks and keeping this rank's share gives this
    rank's rows the gradient of the sum of all ranks' losses (any backend: all_reduce only)."""

    @staticmethod
    def forward(ctx, tensor: torch.Tensor) -> torch.Tensor:
        ctx.rank, ctx.rows = dist.get_rank(), tensor.shape[0]
        parts = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, tensor.contiguous())
        return torch.cat(parts)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous().clone()
        dist.all_reduce(grad)
        return grad[ctx.rank * ctx.rows : (ctx.rank + 1) * ctx.rows]


def rank() -> int:
    """This process's rank among the data-parallel processes (0 on one process)."""
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def leave_process_group() -> None:
    """Wait for every rank, then leave the process group: a rank that tears gloo down while another
    still writes its files can abort that one ("terminate called without an active exception")."""
    dist.barrier()
    dist.destroy_process_group()


def gather_with_gradient(tensor: torch.Tensor) -> torch.Tensor:
    """All ranks' ``tensor`` rows in rank order (equal row counts); ``tensor`` itself on one process."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return tensor
    return _GatherWithGradient.apply(tensor)
