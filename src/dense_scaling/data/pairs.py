"""Training pairs: (query, positive) from qrels, nested subsets of size D, a validation carve-out."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dense_scaling.data.readers import DataFormatError, RetrievalData


@dataclass
class PairSplit:
    """Index arrays ``[n, 2]`` of (query index, corpus index) for training and validation."""

    train: np.ndarray
    val: np.ndarray
    available: int  # training pairs there were to choose D from


def relevant_pairs(data: RetrievalData, split: str) -> np.ndarray:
    """Every (query, passage) with grade >= 1 in ``split``, in file order."""
    pairs = [
        (data.query_index[qid], data.corpus_index[pid])
        for qid, judged in data.split(split).items()
        for pid, grade in judged.items()
        if grade >= 1
    ]
    if not pairs:
        raise DataFormatError(f"split '{split}' of '{data.name}' has no judgement with grade >= 1")
    return np.asarray(pairs, dtype=np.int64)


def split_pairs(pairs: np.ndarray, num_train_pairs: int | None, seed: int, val_queries: int = 0) -> PairSplit:
    """Carve ``val_queries`` whole queries out for validation, then take the first ``num_train_pairs``
    of one seeded permutation of the rest: for a fixed seed, the subset of size D lies inside every
    larger subset, so the points of a data-size sweep differ only in D."""
    rng = np.random.default_rng(seed)
    queries = np.unique(pairs[:, 0])
    if val_queries >= len(queries):
        raise ValueError(
            f"data.val_queries={val_queries} leaves no training query (there are {len(queries)}); lower it"
        )
    held_out = rng.choice(queries, size=val_queries, replace=False) if val_queries else np.empty(0, np.int64)
    is_val = np.isin(pairs[:, 0], held_out)
    rest = pairs[~is_val][rng.permutation(int((~is_val).sum()))]
    if num_train_pairs is not None:
        if not 0 < num_train_pairs <= len(rest):
            raise ValueError(
                f"data.num_train_pairs={num_train_pairs} but {len(rest)} training pairs are available"
                f"{f' after carving {val_queries} validation queries' if val_queries else ''}; "
                f"choose a value from 1 to {len(rest)} (or null for all)"
            )
        rest = rest[:num_train_pairs]
    return PairSplit(train=rest, val=pairs[is_val], available=int((~is_val).sum()))


def positives_by_query(data: RetrievalData, splits: list[str]) -> dict[int, set[int]]:
    """Every labelled positive (grade >= 1) of every query over ``splits``: never a negative."""
    positives: dict[int, set[int]] = {}
    for split in splits:
        for qid, judged in data.qrels.get(split, {}).items():
            bucket = positives.setdefault(data.query_index[qid], set())
            bucket.update(data.corpus_index[pid] for pid, grade in judged.items() if grade >= 1)
    return positives
