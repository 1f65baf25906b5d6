"""Stop a run whose loss or gradients stop being finite, before any weight holds the damage."""
from __future__ import annotations

import math

import lightning as L
import torch


class NonFiniteError(FloatingPointError):
    """Training produced NaN or inf; the message names the step and what to change."""


ADVICE = ("lower training.lr, raise temperature (similarity=dot with a tiny temperature overflows), "
          "or keep gradient clipping on (trainer.gradient_clip_val)")


class FiniteGuard(L.Callback):
    """Raises :class:`NonFiniteError` at the first step whose loss (before the backward pass) or
    gradient norm (before the optimizer step) is NaN or inf, so no weight and no checkpoint ever
    holds the damage; the run then fails (failed.json, no results.json) and keeps its last good
    checkpoint. Costs one scalar read per step and one norm over the gradients.
    """

    def on_before_backward(self, trainer, module, loss) -> None:
        value = float(loss.detach())
        if not math.isfinite(value):
            raise NonFiniteError(f"the training loss is {value} at step {trainer.global_step + 1}; {ADVICE}")

    def on_before_optimizer_step(self, trainer, module, optimizer) -> None:
        grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        norm = float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))) if grads else 0.0
        if not math.isfinite(norm):
            raise NonFiniteError(f"the gradient norm is {norm} at step {trainer.global_step + 1}; {ADVICE}")
