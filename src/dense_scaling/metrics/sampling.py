"""Seeded choices of corpus passages for evaluation: CE negatives and the ranking subcorpus.

Every choice here depends only on the data set (corpus size, test positives) and a seed,
never on a model, so every model of a sweep is scored against the same passages
(common random numbers). Each function draws from its own stream of the seed, so changing
one setting (say the pool size) does not move the others.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np
import torch

_POOL_STREAM, _NEGATIVES_STREAM, _SUBCORPUS_STREAM = 0, 1, 2


def _rng(seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([stream, seed])


def _positive_set(corpus_size: int, positives: Iterable[int]) -> np.ndarray:
    """Sorted distinct positive corpus indices, checked to lie in [0, corpus_size)."""
    pos = np.unique(np.asarray(list(positives), dtype=np.int64))
    if pos.size and (pos[0] < 0 or pos[-1] >= corpus_size):
        raise ValueError(
            f"test positive indices must lie in [0, {corpus_size}) (the corpus size); "
            f"got values in [{pos[0]}, {pos[-1]}]: pass corpus row indices, not passage ids"
        )
    return pos


def _sorted_subset(candidates: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """`size` distinct elements of `candidates` chosen uniformly, sorted (all if size >= len)."""
    if size >= candidates.size:
        return candidates
    return np.sort(rng.choice(candidates, size=size, replace=False))


def build_negative_pool(
    corpus_size: int, test_positives: Iterable[int], pool_size: int | None = 1_000_000, seed: int = 0
) -> np.ndarray:
    """Corpus indices (sorted, int64) from which CE negatives are drawn.

    The pool is the corpus minus every test positive (of every test query), subsampled
    uniformly to `pool_size` with `seed` (DRScale: 1M for MS MARCO). `pool_size=None`, or a
    size larger than what is left, keeps every remaining passage.
    """
    pos = _positive_set(corpus_size, test_positives)
    candidates = np.setdiff1d(np.arange(corpus_size, dtype=np.int64), pos, assume_unique=True)
    if candidates.size == 0:
        raise ValueError("the negative pool is empty: every corpus passage is a test positive")
    size = candidates.size if pool_size is None else pool_size
    if size < 1:
        raise ValueError(f"pool_size must be >= 1 (or None for all), got {pool_size}")
    return _sorted_subset(candidates, size, _rng(seed, _POOL_STREAM))


def _distinct_rows(rng: np.random.Generator, high: int, rows: int, k: int) -> np.ndarray:
    """`rows` uniform random k-subsets of range(high), each row sorted ascending (int64).

    Filled in blocks of about a million values, so temporaries stay small.
    """
    fill, width = (_rows_by_permutation, high) if high <= 4 * k else (_rows_by_rejection, k)
    step = max(1, 2**20 // width)
    out = np.empty((rows, k), dtype=np.int64)
    for start in range(0, rows, step):
        out[start : start + step] = fill(rng, high, min(step, rows - start), k)
    return out


def _rows_by_rejection(rng: np.random.Generator, high: int, rows: int, k: int) -> np.ndarray:
    """Draw with replacement, keep the first copy of each value, redraw the duplicates, repeat.

    The kept set is the first k distinct values of an i.i.d. uniform sequence, hence a
    uniform k-subset (the law of `random.sample`). Fast when k << high.
    """
    out = rng.integers(0, high, size=(rows, k))
    out.sort(axis=1)
    todo = np.flatnonzero((out[:, 1:] == out[:, :-1]).any(axis=1))
    while todo.size:
        sub = out[todo]
        dup = np.zeros(sub.shape, dtype=bool)
        dup[:, 1:] = sub[:, 1:] == sub[:, :-1]
        sub[dup] = rng.integers(0, high, size=int(dup.sum()))
        sub.sort(axis=1)
        out[todo] = sub
        todo = todo[(sub[:, 1:] == sub[:, :-1]).any(axis=1)]
    return out


def _rows_by_permutation(rng: np.random.Generator, high: int, rows: int, k: int) -> np.ndarray:
    """The first k entries of a uniform permutation of range(high) per row: for k near high."""
    perm = rng.permuted(np.tile(np.arange(high), (rows, 1)), axis=1)
    return np.sort(perm[:, :k], axis=1)


def sample_negatives(
    pool_size: int, num_pairs: int, num_negatives: int = 256, repeats: int = 10, seed: int = 0
) -> torch.Tensor:
    """Negative positions in the pool for CE: int64 tensor [num_pairs, repeats, num_negatives].

    Entry [i, r] holds the `num_negatives` negatives of pair i in repeat r: distinct within
    that draw (as DRScale's `random.sample`), independent across pairs and repeats. Values
    index the pool (0 .. pool_size-1), not the corpus: map with `pool[idx]` if needed.
    """
    if num_negatives > pool_size:
        raise ValueError(
            f"cannot draw {num_negatives} distinct negatives from a pool of {pool_size} "
            "passages: lower num_negatives or enlarge the pool"
        )
    if min(num_pairs, repeats, num_negatives) < 1:
        raise ValueError(
            f"num_pairs, repeats and num_negatives must be >= 1, got "
            f"{num_pairs}, {repeats}, {num_negatives}"
        )
    rows = _distinct_rows(_rng(seed, _NEGATIVES_STREAM), pool_size, num_pairs * repeats, num_negatives)
    return torch.from_numpy(rows.reshape(num_pairs, repeats, num_negatives))


def build_subcorpus(
    corpus_size: int, test_positives: Iterable[int], subcorpus_size: int = 100_000, seed: int = 0
) -> np.ndarray:
    """Corpus indices (sorted, int64) of the ranking subcorpus.

    Every test positive plus passages drawn uniformly with `seed` from the rest, up to
    `subcorpus_size` passages in all (the whole corpus if it is smaller).
    """
    pos = _positive_set(corpus_size, test_positives)
    size = min(subcorpus_size, corpus_size)
    if pos.size > size:
        raise ValueError(
            f"subcorpus_size={subcorpus_size} is smaller than the {pos.size} distinct test "
            "positives it must contain: raise subcorpus_size"
        )
    others = np.setdiff1d(np.arange(corpus_size, dtype=np.int64), pos, assume_unique=True)
    chosen = _sorted_subset(others, size - pos.size, _rng(seed, _SUBCORPUS_STREAM))
    return np.sort(np.concatenate([pos, chosen]))
