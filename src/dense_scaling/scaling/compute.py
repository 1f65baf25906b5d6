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

The compute-optimal frontier (``compute_optimum``) minimises a fitted joint law L(N, D) over
the (N, D) that a budget of C = 6 N tokens(D, steps) FLOPs buys, with
tokens(D, steps) = tokens_per_pair x max(D, steps x batch_size) (``TrainingProtocol``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .budget import minimise_along
from .errors import ScalingInputError

_LOG_N_SPAN = float(np.log(1e8))  # the frontier searches N over eight decades below the largest affordable

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


@dataclass(frozen=True)
class TrainingProtocol:
    """How a study trains, as the compute frontier needs it: ``steps`` per run, ``batch_size``
    pairs per step, and ``tokens_per_pair``: the tokens one step encodes (queries, positives and
    the shared negatives) divided by ``batch_size``."""

    steps: int
    batch_size: int
    tokens_per_pair: float

    @property
    def pairs_per_run(self) -> int:
        return self.steps * self.batch_size

    def tokens(self, D):
        """tokens(D, steps) = tokens_per_pair x max(D, steps x batch_size): the run trains for its
        steps, and for longer where D is larger, so that it sees every pair at least once."""
        return self.tokens_per_pair * np.maximum(np.asarray(D, dtype=float), self.pairs_per_run)

    def flops(self, N, D):
        """C = 6 N tokens(D, steps)."""
        return 6.0 * np.asarray(N, dtype=float) * self.tokens(D)

    def to_dict(self) -> dict:
        return {**asdict(self), "pairs_per_run": self.pairs_per_run}

    @classmethod
    def of_runs(cls, records) -> "TrainingProtocol":
        """The protocol of a study's runs (medians of steps, batch size and tokens per pair)."""
        usable = [r for r in records if r.steps and r.batch_size and r.tokens_seen]
        if not usable:
            raise ScalingInputError(
                "no run records steps, training.batch_size and tokens_seen, which the compute frontier needs; "
                "fit runs written by dense_scaling.train")
        return cls(steps=int(np.median([r.steps for r in usable])),
                   batch_size=int(np.median([r.batch_size for r in usable])),
                   tokens_per_pair=float(np.median([r.tokens_seen / (r.steps * r.batch_size) for r in usable])))


@dataclass(frozen=True)
class ComputeOptimum:
    """The best (N, D) of the joint law for one compute budget C = 6 N tokens(D, steps)."""

    flops: float
    N: float
    D: float
    loss: float
    band: float
    N_band: tuple[float, float]

    def to_dict(self) -> dict:
        return asdict(self)


def _loss_at_flops(law, protocol: TrainingProtocol, flops: float, log_N):
    """The law along C = 6 N tokens(D): D = C / (6 N tokens_per_pair), valid where D >= steps x batch."""
    N = np.exp(np.asarray(log_N, dtype=float))
    D = flops / (6.0 * N * protocol.tokens_per_pair)
    return law.predict(N, D)


def compute_optimum(law, protocol: TrainingProtocol, flops: float, band: float = 0.01) -> ComputeOptimum:
    """Minimise the joint ``law`` over (N, D) at compute ``flops``.

    Below ``steps x batch`` pairs a larger D costs no compute (the run takes its steps anyway), so
    the optimum spends the budget with D >= steps x batch: N runs up to
    N_max = C / (6 tokens_per_pair steps batch) and D = C / (6 N tokens_per_pair).
    """
    if not flops > 0:
        raise ScalingInputError(f"compute budget must be positive FLOPs, got {flops!r}")
    high = np.log(flops / (6.0 * protocol.tokens_per_pair * protocol.pairs_per_run))
    log_N, loss, edges = minimise_along(lambda t: _loss_at_flops(law, protocol, flops, t),
                                        high - _LOG_N_SPAN, high, band)
    N = float(np.exp(log_N))
    return ComputeOptimum(flops=float(flops), N=N, D=float(flops / (6.0 * N * protocol.tokens_per_pair)),
                          loss=loss, band=band, N_band=(float(np.exp(edges[0])), float(np.exp(edges[1]))))


def iso_flop_curve(law, protocol: TrainingProtocol, flops: float, n_points: int = 300):
    """(N, D, L) along C = flops for plotting (the IsoFLOP curve), over the same N range as the optimum."""
    high = np.log(flops / (6.0 * protocol.tokens_per_pair * protocol.pairs_per_run))
    log_N = np.linspace(high - _LOG_N_SPAN, high, n_points)
    N = np.exp(log_N)
    return N, flops / (6.0 * N * protocol.tokens_per_pair), _loss_at_flops(law, protocol, flops, log_N)
