"""The LightningModule: contrastive training of a BiEncoder (the paper's Eq. 3)."""
from __future__ import annotations

import time

import lightning as L
import torch

from dense_scaling.model.biencoder import BiEncoder
from dense_scaling.model.distributed import gather_with_gradient, rank
from dense_scaling.model.loss import contrastive_loss
from dense_scaling.model.memory import cached_encode, checkpoint_activations


def warmup_linear_decay(warmup_steps: int, max_steps: int):
    """The learning-rate factor: linear warm-up to 1, then linear decay to 0 at ``max_steps``."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        return max(0.0, (max_steps - step) / max(1, max_steps - warmup_steps))

    return factor


def adamw(model: torch.nn.Module, lr: float, weight_decay: float, fused: bool | None = None) -> torch.optim.AdamW:
    """AdamW with weight decay on every parameter but biases and LayerNorm weights; ``fused``
    as ``torch.optim.AdamW``'s (None: PyTorch's default implementation)."""
    no_decay = ("bias", "LayerNorm.weight", "layer_norm.weight")
    groups = [
        {"params": [p for n, p in model.named_parameters() if not n.endswith(no_decay)], "weight_decay": weight_decay},
        {"params": [p for n, p in model.named_parameters() if n.endswith(no_decay)], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=lr, fused=fused)


class ContrastiveRetriever(L.LightningModule):
    """Trains ``model`` on batches from :class:`~dense_scaling.data.batches.ContrastiveBatches`.

    AdamW with warm-up and linear decay over ``max_steps``. Logs the training loss, the learning
    rate and the number of (non-padding) tokens seen. ``elapsed_s()`` is the training time summed
    over the attempts of a resumed run (a checkpoint carries the time up to it). Under data parallelism each rank encodes its
    share of the batch and the passage embeddings are gathered with gradients, so the loss and its
    gradient are those of the whole batch on one device.

    For batches larger than memory: ``gradient_checkpointing`` recomputes the encoder's layer
    activations in the backward pass; ``grad_cache`` (a chunk size) encodes queries and passages
    GradCache's way (``model/memory.py``). Neither changes the loss or its gradients.
    """

    def __init__(
        self,
        model: BiEncoder,
        lr: float = 5e-5,
        weight_decay: float = 0.01,
        warmup_steps: int = 1000,
        max_steps: int = 10_000,
        in_batch_negatives: bool = True,
        gradient_checkpointing: bool = False,
        grad_cache: int | None = None,
    ):
        super().__init__()
        self.model = model
        self.lr, self.weight_decay = lr, weight_decay
        self.warmup_steps, self.max_steps = warmup_steps, max_steps
        self.in_batch_negatives = in_batch_negatives
        if grad_cache is not None and grad_cache < 1:
            raise ValueError(f"training.grad_cache={grad_cache}: give a chunk size >= 1, or null to encode whole batches")
        self.grad_cache = grad_cache
        if gradient_checkpointing:
            checkpoint_activations(model.encoder)
        self.tokens_seen = 0
        self._time_before_attempt = 0.0
        self._checkpointed_loss: float | None = None
        self._attempt_started = time.perf_counter()

    def elapsed_s(self) -> float:
        """Seconds since this attempt's fit started, plus the time checkpointed by earlier attempts."""
        return self._time_before_attempt + time.perf_counter() - self._attempt_started

    def on_fit_start(self) -> None:
        self._attempt_started = time.perf_counter()

    def embed(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Embeddings of a batch's texts: at once, or ``grad_cache`` texts at a time."""
        return cached_encode(self.model, ids, mask, self.grad_cache) if self.grad_cache else self.model.encode(ids, mask)

    def batch_loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The contrastive loss of this process's share of ``batch``, against the candidates of
        every process (gathered with gradients under data parallelism)."""
        queries = self.embed(batch["query_ids"], batch["query_mask"])
        passages = self.embed(batch["passage_ids"], batch["passage_mask"])
        share = len(queries)  # this rank's queries, and as many positives, lead its passages
        positives, negatives = gather_with_gradient(passages[:share]), gather_with_gradient(passages[share:])
        scores = self.model.score(queries, torch.cat([positives, negatives]))
        return contrastive_loss(scores, batch["positive_mask"], self.in_batch_negatives,
                                first_query=rank() * share, num_positives=len(positives))

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss = self.batch_loss(batch)
        self.tokens_seen += batch["num_tokens"]  # counted by the batch stream: no device sync, no collective
        self.log("train/loss", loss, prog_bar=True, sync_dist=True)
        self.log("train/lr", self.lr_schedulers().get_last_lr()[0])
        self.log("train/tokens_seen", float(self.tokens_seen))
        return loss

    def configure_optimizers(self):
        optimizer = adamw(self.model, self.lr, self.weight_decay)
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, warmup_linear_decay(self.warmup_steps, self.max_steps)
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}

    def last_loss(self) -> float | None:
        """The training loss last logged: by this attempt, else by the attempt that checkpointed
        (a run resumed from its final step trains no step), else None."""
        logged = self._trainer.callback_metrics.get("train/loss") if self._trainer is not None else None
        return float(logged) if logged is not None else self._checkpointed_loss

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["tokens_seen"] = self.tokens_seen
        checkpoint["elapsed_s"] = self.elapsed_s()
        checkpoint["train_loss"] = self.last_loss()

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.tokens_seen = checkpoint.get("tokens_seen", 0)
        self._time_before_attempt = checkpoint.get("elapsed_s", 0.0)
        self._checkpointed_loss = checkpoint.get("train_loss")
