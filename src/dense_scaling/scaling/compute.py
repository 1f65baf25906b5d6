"""Training compute: the FLOPs of one run, and the tokens a run at data size D costs.

One training step encodes B queries, their B positives and K shared negatives: ``2B + K``
sequences. Over a run of ``tokens`` non-padding tokens in ``sequences`` sequences, the
forward and backward passes cost (docs/scaling.md derives each term):

    C = 6 * N * tokens                              encoder weights (Kaplan: 2 forward + 4 backward
                                                    FLOPs per parameter and token), N non-embedding
      + 6 * (hidden + 1) * proj_dim * sequences     the projection, once per sequence on the pooled vector
      + 12 * layers * hidden * sum_i s_i^2          attention scores QK^T and the weighted sum of V:
                                                    2 * s^2 * hidden each forward per layer, x3 with backward

Results hold ``tokens_seen`` and the step count, not every sequence's length, so ``sum s_i^2`` is
taken as ``sequences * mean(s)^2 = tokens^2 / sequences``. By Cauchy-Schwarz that is never more
than the true sum, so the attention term is a lower bound (queries are shorter than passages);
padding, which the hardware also multiplies, is not counted either.
"""

from __future__ import annotations

FLOPS_FORMULA = ("6*N*tokens + 6*(hidden+1)*proj_dim*sequences + 12*layers*hidden*tokens^2/sequences; "
                 "sequences = steps*(2*batch_size + num_negatives), tokens = tokens_seen (non-padding)")


def sequences_per_step(batch_size: int, num_negatives: int) -> int:
    """Sequences one training step encodes: B queries, B positives, K shared negatives."""
    return 2 * int(batch_size) + int(num_negatives)


def training_flops(N: float, tokens: float, steps: int, batch_size: int, num_negatives: int, layers: int,
                   hidden: int, proj_dim: int) -> float:
    """Training FLOPs of one run (module docstring): encoder + projection + attention."""
    sequences = float(steps) * sequences_per_step(batch_size, num_negatives)
    if sequences <= 0 or tokens <= 0:
        return 0.0
    encoder = 6.0 * N * tokens
    projection = 6.0 * (hidden + 1) * proj_dim * sequences
    attention = 12.0 * layers * hidden * tokens ** 2 / sequences
    return encoder + projection + attention


def flops_field(**run) -> dict:
    """results.json's ``flops``: ``{"train": FLOPs, "formula": FLOPS_FORMULA}`` (``run``: the
    arguments of :func:`training_flops`)."""
    return {"train": training_flops(**run), "formula": FLOPS_FORMULA}
