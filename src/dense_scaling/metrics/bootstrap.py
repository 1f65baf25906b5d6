"""Percentile bootstrap confidence interval of a mean."""

from __future__ import annotations

import numpy as np


def bootstrap_ci(
    values, n_resamples: int = 1000, seed: int = 0, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of `values` (resampling the values).

    Deterministic for a seed. Resamples are drawn in blocks so memory stays near
    2**24 indices whatever the number of values.
    """
    x = np.asarray(values, dtype=np.float64).ravel()
    if x.size == 0:
        raise ValueError("bootstrap_ci needs at least one value")
    if n_resamples < 1 or not 0.0 < level < 1.0:
        raise ValueError(f"need n_resamples >= 1 and 0 < level < 1, got {n_resamples}, {level}")
    rng = np.random.default_rng(seed)
    step = max(1, 2**24 // x.size)
    means = np.concatenate([
        x[rng.integers(0, x.size, size=(min(step, n_resamples - s), x.size))].mean(axis=1)
        for s in range(0, n_resamples, step)
    ])
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return float(low), float(high)
