"""Which passages an annotation job works on, in a fixed order, each with its own seed."""
from __future__ import annotations

import random
from collections import Counter
from typing import Iterator

from dense_scaling.annotation.records import AnnotationError, Task, derive_seed
from dense_scaling.data.readers import Qrels, RetrievalData

POOLS = ("train_positives", "corpus")


def select_tasks(
    data: RetrievalData,
    train_split: str = "train",
    seed: int = 0,
    pool: str = "train_positives",
    limit: int | None = None,
) -> list[Task]:
    """The passages to annotate, in corpus order.

    ``pool``: ``train_positives`` (the passages that are human positives of the training split,
    as in the paper) or ``corpus`` (every passage that is not a positive of another split, so
    that evaluation passages never get generated training queries). ``limit``: a random sample
    of that many passages, seeded by ``seed``. Each task carries ``derive_seed(seed, pid)``, so
    a passage's result never depends on which other passages were chosen or batched with it.
    """
    if pool not in POOLS:
        raise AnnotationError(f"passages.pool '{pool}' is not one of: {', '.join(POOLS)}")
    train = data.split(train_split) if pool == "train_positives" else data.qrels.get(train_split, {})
    human = Counter(_positives(train))
    if pool == "train_positives":
        wanted = set(human)
    else:
        held_out = {pid for split, qrels in data.qrels.items() if split != train_split for pid in _positives(qrels)}
        wanted = set(data.corpus_ids) - held_out
    ordered = [pid for pid in data.corpus_ids if pid in wanted]
    if limit is not None:
        if not 0 < limit <= len(ordered):
            raise AnnotationError(
                f"passages.limit={limit}: the pool '{pool}' holds {len(ordered)} passages; "
                f"pass a number from 1 to {len(ordered)} or null for all"
            )
        chosen = set(random.Random(seed).sample(ordered, limit))
        ordered = [pid for pid in ordered if pid in chosen]
    return [
        Task(pid, data.corpus_texts[data.corpus_index[pid]], derive_seed(seed, pid), human[pid])
        for pid in ordered
    ]


def _positives(qrels: Qrels) -> Iterator[str]:
    """The relevant passage of every judged (query, passage) pair, once per pair."""
    return (pid for judged in qrels.values() for pid, grade in judged.items() if grade >= 1)
