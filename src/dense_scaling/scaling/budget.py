"""Spend a budget well: the paper's cost model (Eqs. 11-14) and the optimal N and D.

    Z(N, D) = Zdata * D + (Ztrain + Zinfer) * N

Zdata is the price of one annotated pair. Ztrain and Zinfer (dollars per
parameter) are derived from their inputs, never typed in:

    dollars per FLOP = gpu_price_per_hour / 3600 / (peak_flops * utilization)
    Ztrain = train_flops_per_token * train_steps * train_tokens_per_step * dollars per FLOP
    Zinfer = infer_flops_per_token * corpus_pages * tokens_per_page * dollars per FLOP

With the paper's inputs (Section 5: $3.93/h A100, 312 TFLOP/s, 25% utilisation, 2 FLOPs per
parameter and token, 30e12 pages of 512 tokens) Zinfer = 0.430 $/param (Eq. 14). For training,
Section 5 states 10,000 steps of a batch of 256, each query (about 30 tokens) with one positive
and one negative passage (about 60 tokens each): 256 x (30 + 2 x 60) = 38,400 tokens per step,
and Ztrain = 3.22e-8 $/param (Eq. 13). Those are the defaults; ``train_tokens_per_step``
overrides the count (DRScale's training defaults, batch 128 x (25-token query + 180-token
positive) + 256 shared 180-token negatives = 72,320 tokens, give Ztrain = 6.07e-8).

The optimum minimises the joint law on the budget line Z(N, D) = budget
(1-D over log N); the loss is flat near its minimum, so the band of N whose
predicted loss is within ``band`` (1%) of the optimum is reported too.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.optimize import brentq, minimize_scalar

from .errors import ScalingInputError

_GRID_POINTS = 2001


@dataclass(frozen=True)
class CostModel:
    """Every factor of the cost Z(N, D), with the paper's values (Section 5, Eqs. 12-14) as defaults;
    ``negatives`` counts the negative passages encoded per step (the paper: one per query)."""

    price_per_pair: float = 0.6
    train_steps: int = 10_000
    batch_size: int = 256
    query_tokens: int = 30
    passage_tokens: int = 60
    negatives: int = 256
    train_tokens_per_step: float | None = None
    train_flops_per_token: float = 6.0
    infer_flops_per_token: float = 2.0
    gpu_price_per_hour: float = 3.93
    peak_flops: float = 312e12
    utilization: float = 0.25
    corpus_pages: float = 30e12
    tokens_per_page: int = 512

    @property
    def dollars_per_flop(self) -> float:
        return self.gpu_price_per_hour / 3600.0 / (self.peak_flops * self.utilization)

    @property
    def tokens_per_step(self) -> float:
        """Tokens encoded per training step: the override, or queries + positives + shared negatives."""
        if self.train_tokens_per_step is not None:
            return float(self.train_tokens_per_step)
        return float(self.batch_size * (self.query_tokens + self.passage_tokens) + self.negatives * self.passage_tokens)

    @property
    def z_data(self) -> float:
        return self.price_per_pair

    @property
    def z_train(self) -> float:
        return self.train_flops_per_token * self.train_steps * self.tokens_per_step * self.dollars_per_flop

    @property
    def z_infer(self) -> float:
        return self.infer_flops_per_token * self.corpus_pages * self.tokens_per_page * self.dollars_per_flop

    def z_model(self, include_inference: bool) -> float:
        """Dollars per parameter: training, plus encoding the corpus if ``include_inference``."""
        return self.z_train + (self.z_infer if include_inference else 0.0)

    def cost(self, N, D, include_inference: bool = True):
        return self.z_data * np.asarray(D, dtype=float) + self.z_model(include_inference) * np.asarray(N, dtype=float)

    def to_dict(self) -> dict:
        return {**asdict(self), "tokens_per_step": self.tokens_per_step, "z_data": self.z_data,
                "z_train": self.z_train, "z_infer": self.z_infer}


@dataclass(frozen=True)
class Allocation:
    """The best (N, D) for one budget, and the flat band around it."""

    budget: float
    include_inference: bool
    N: float
    D: float
    loss: float
    band: float
    N_band: tuple[float, float]
    D_band: tuple[float, float]
    cost_data: float
    cost_train: float
    cost_infer: float

    def to_dict(self) -> dict:
        return asdict(self)


def _check_budget(cost: CostModel, budget: float) -> None:
    if not budget > 0:
        raise ScalingInputError(f"budget must be positive dollars, got {budget!r}")
    if cost.z_data <= 0 or cost.z_train < 0 or cost.z_infer < 0:
        raise ScalingInputError("cost model prices must be positive: check price_per_pair and the GPU inputs")


def _data_left(cost: CostModel, budget: float, N, include_inference: bool) -> np.ndarray:
    """Pairs the rest of the budget buys after paying for a model of size N."""
    return (budget - cost.z_model(include_inference) * np.asarray(N, dtype=float)) / cost.z_data


def _loss_on_line(law, cost: CostModel, budget: float, log_N, include_inference: bool) -> np.ndarray:
    N = np.exp(np.asarray(log_N, dtype=float))
    D = _data_left(cost, budget, N, include_inference)
    with np.errstate(divide="ignore", invalid="ignore"):
        loss = law.predict(N, np.where(D > 0, D, np.nan))
    return np.where(D > 0, loss, np.inf)


def _log_N_range(cost: CostModel, budget: float, include_inference: bool) -> tuple[float, float]:
    largest = budget / cost.z_model(include_inference)
    return np.log(min(1.0, largest * 1e-12)), np.log(largest) + np.log1p(-1e-9)


def budget_line(law, cost: CostModel, budget: float, include_inference: bool = True, n_points: int = 400):
    """(N, D, L) along Z(N, D) = budget, for plotting (paper Figs. 7-8)."""
    _check_budget(cost, budget)
    log_N = np.linspace(*_log_N_range(cost, budget, include_inference), n_points)
    N = np.exp(log_N)
    return N, _data_left(cost, budget, N, include_inference), _loss_on_line(law, cost, budget, log_N, include_inference)


def minimise_along(loss_of_log_N, low: float, high: float, band: float = 0.01):
    """Minimise ``loss_of_log_N`` (vectorised) over log N in [low, high]: a grid, then a bounded
    Brent refinement. Returns (log N at the minimum, the loss there, (low edge, high edge) of the
    log N whose loss is within ``band`` of it), the edges found by root finding."""
    grid = np.linspace(low, high, _GRID_POINTS)
    losses = loss_of_log_N(grid)
    best = int(np.argmin(losses))
    bracket = (grid[max(best - 1, 0)], grid[min(best + 1, grid.size - 1)])
    refined = minimize_scalar(lambda t: float(loss_of_log_N(t)), bounds=bracket, method="bounded",
                              options={"xatol": 1e-10})
    log_N = refined.x if refined.fun <= losses[best] else grid[best]
    loss = float(loss_of_log_N(log_N))
    ceiling = (1.0 + band) * loss

    def excess(t):
        return float(loss_of_log_N(t)) - ceiling

    edges = []
    for step in (-1, 1):
        i = best
        while 0 <= i + step < grid.size and losses[i + step] <= ceiling:
            i += step
        outside = i + step
        edges.append(grid[i] if not 0 <= outside < grid.size else brentq(excess, *sorted((grid[i], grid[outside]))))
    return float(log_N), loss, (float(edges[0]), float(edges[1]))


def optimal_allocation(law, cost: CostModel, budget: float, include_inference: bool = True,
                       band: float = 0.01) -> Allocation:
    """Minimise the joint ``law`` on the budget line; also return the N within ``band`` of the best loss."""
    _check_budget(cost, budget)
    log_N, loss, edges = minimise_along(lambda t: _loss_on_line(law, cost, budget, t, include_inference),
                                        *_log_N_range(cost, budget, include_inference), band)
    N = float(np.exp(log_N))
    N_band = (float(np.exp(edges[0])), float(np.exp(edges[1])))
    D = float(_data_left(cost, budget, N, include_inference))
    D_band = tuple(float(_data_left(cost, budget, n, include_inference)) for n in N_band)
    return Allocation(budget=float(budget), include_inference=include_inference, N=N, D=D, loss=loss, band=band,
                      N_band=N_band, D_band=D_band, cost_data=cost.z_data * D, cost_train=cost.z_train * N,
                      cost_infer=cost.z_infer * N if include_inference else 0.0)
